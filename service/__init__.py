"""citeqa service: the answering core (retrieve -> prompt -> generate -> verify) and its adapters.

The answering modules (``answer``, ``pipeline``, ``generators``, ``citations``...) import no web
framework; ``service.http`` (FastAPI), ``service.slack`` (slack-bolt) and ``service.cli`` are
adapters on top of ``AnswerPipeline.answer``.
"""
