"""citeqa HTTP adapter (FastAPI)."""
