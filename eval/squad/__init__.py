"""SQuAD 2.0-format datasets for ``citeqa eval --dataset squad2``: data and scoring rule
(:mod:`.data`), metrics (:mod:`.metrics`), the runner (:mod:`.run`), the report
(:mod:`.report`) and the command (:mod:`.command`). ``citeqa fit`` reads the same data."""
