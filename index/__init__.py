"""citeqa core: documents, cleaning, chunking, embedding, vector and keyword stores, retrieval.

Nothing here imports a web framework, Slack, or a CLI library.
"""
