"""The LLM generator: every model call goes through ``litellm.completion``.

litellm is imported lazily (it takes seconds) and with its bundled model-cost map, so nothing is
downloaded at run time. This is the only module that turns evidence into prompt text (with
:mod:`prompts` and :mod:`.llm_format`) and parses model text back.

Example::

    gen = LiteLLMGenerator("openai/gpt-4o-mini")
    draft = gen.generate(GenerationRequest(question, analyze_question(question), sources)).draft
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from index.errors import GenerationError, GenerationTimeoutError
from prompts import Prompt, load_prompt
from service.answering.evidence import Source
from service.answering.generators.llm_format import format_question, format_sources, parse_output
from service.answering.generators.protocol import Generation, GenerationRequest

logger = logging.getLogger(__name__)

Message = Mapping[str, str]

_setup_lock = threading.Lock()
_litellm: Any = None


def get_litellm() -> Any:
    """Imports litellm once, quietly, with telemetry off and unknown parameters dropped."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _setup_lock:
        if _litellm is not None:
            return _litellm
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _litellm = litellm
        return litellm


class LiteLLMGenerator:
    """Any LLM through ``litellm.completion``: renders the prompt, calls the model with timeouts
    and retries, parses the reply into a :class:`Draft`."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        retries: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 700,
        completion_kwargs: Mapping[str, Any] | None = None,
        prompt_name: str = "answer",
    ) -> None:
        self._model = model.strip()
        self.api_base = api_base
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        # Extra litellm arguments for real models (e.g. ``mock_response`` in tests, ``fallbacks``).
        self.completion_kwargs = dict(completion_kwargs or {})
        self.prompt: Prompt = load_prompt(prompt_name)
        self.system_prompt: Prompt = load_prompt(f"{prompt_name}_system")

    @property
    def model(self) -> str:
        return self._model

    def messages(self, question: str, sources: Sequence[Source]) -> list[Message]:
        """The chat messages for ``question`` over ``sources`` (system rules + delimited data)."""
        user = self.prompt.render(
            sources=format_sources(sources), question=format_question(question)
        )
        return [
            {"role": "system", "content": self.system_prompt.text},
            {"role": "user", "content": user},
        ]

    def generate(self, request: GenerationRequest) -> Generation:
        """One completion, parsed; provider errors become GenerationError(/Timeout)."""
        name = (request.model or self._model).strip()
        text = self.complete(
            self.messages(request.question, request.sources), name, request.timeout_s
        )
        return Generation(draft=parse_output(text), model=name)

    def complete(self, messages: Sequence[Message], model: str, timeout_s: float | None) -> str:
        """The raw reply text of ``model`` to ``messages``."""
        litellm = get_litellm()
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "timeout": timeout_s if timeout_s is not None else self.timeout_s,
            "num_retries": self.retries,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.completion_kwargs,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        try:
            response = litellm.completion(**kwargs)
            text = response.choices[0].message.content
        except GenerationError:
            raise
        except Exception as exc:
            raise _convert(exc, model) from exc
        if not isinstance(text, str):
            raise GenerationError(f"model {model} returned no text")
        return text


def _convert(exc: Exception, model: str) -> GenerationError:
    litellm = get_litellm()
    timeout_types: tuple[type[BaseException], ...] = (TimeoutError,)
    timeout_cls = getattr(litellm, "Timeout", None)
    if isinstance(timeout_cls, type):
        timeout_types += (timeout_cls,)
    message = " ".join(str(exc).split())[:300]
    if isinstance(exc, timeout_types) or "timed out" in message.lower():
        return GenerationTimeoutError(f"model {model} timed out: {message}")
    return GenerationError(f"model {model} failed: {type(exc).__name__}: {message}")
