"""``citeqa fit``: fitting the general answerer's artifact on dev data.

:mod:`.sources` (SQuAD-format folders, the seeds gold set) -> :mod:`.cache` (retrieval and
vectors, computed once with the product's code) -> :mod:`.dataset` (answerer inputs and the
scoring rule) -> :mod:`.training` (listwise rankers, confidence, calibration, threshold) ->
:mod:`.evaluate` (leave-one-article-out figures) -> :mod:`.command` (the CLI and the artifact).
"""
