"""``citeqa eval --generator llm``: the LLM path against the default answerer and a naive LLM."""
