"""Generators: every answer is produced through ``litellm.completion``.

The default model string ``extractive`` is served by a litellm custom provider registered here
(:class:`ExtractiveProvider`), so the extractive generator and real LLMs share one call path, one
output format and one verifier. litellm is imported lazily (it takes seconds) and with its
bundled model-cost map, so nothing is downloaded at run time.

Example::

    gen = LiteLLMGenerator(model="extractive")
    text = gen.generate([{"role": "user", "content": prompt}]).text
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from index.errors import GenerationError, GenerationTimeoutError

logger = logging.getLogger(__name__)

EXTRACTIVE_PROVIDER = "extractive"
EXTRACTIVE_MODEL = "extractive/default"

Message = Mapping[str, str]

_setup_lock = threading.Lock()
_litellm: Any = None


def normalize_model(model: str) -> str:
    """Maps the settings shorthand ``extractive`` to the litellm model string."""
    return EXTRACTIVE_MODEL if model.strip() == EXTRACTIVE_PROVIDER else model.strip()


def is_extractive(model: str) -> bool:
    return normalize_model(model).split("/", 1)[0] == EXTRACTIVE_PROVIDER


def get_litellm() -> Any:
    """Imports litellm once, quietly, with the extractive provider registered."""
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
        _register_extractive(litellm)
        _litellm = litellm
        return litellm


def _register_extractive(litellm: Any) -> None:
    from service.extractive import extractive_reply

    class ExtractiveProvider(litellm.CustomLLM):  # type: ignore[misc]
        """litellm custom provider answering from the source blocks in the prompt."""

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            messages: Sequence[Mapping[str, Any]] = kwargs.get("messages") or []
            prompt = "\n\n".join(
                str(m.get("content") or "") for m in messages if m.get("role") == "user"
            )
            response = kwargs["model_response"]
            response.choices[0].message.content = extractive_reply(prompt)
            response.model = f"{EXTRACTIVE_PROVIDER}/{kwargs.get('model') or 'default'}"
            return response

    providers = [p for p in litellm.custom_provider_map if p.get("provider") != EXTRACTIVE_PROVIDER]
    providers.append({"provider": EXTRACTIVE_PROVIDER, "custom_handler": ExtractiveProvider()})
    litellm.custom_provider_map = providers


@dataclass(frozen=True)
class Generation:
    """A generator's raw reply and the model string that produced it."""

    text: str
    model: str


class Generator(Protocol):
    """Turns chat messages into reply text (raises GenerationError on failure)."""

    model: str

    def generate(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        timeout_s: float | None = None,
    ) -> Generation: ...


class LiteLLMGenerator:
    """Calls ``litellm.completion`` with timeouts, retries and the configured endpoint."""

    def __init__(
        self,
        model: str = EXTRACTIVE_PROVIDER,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        retries: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 700,
        completion_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = normalize_model(model)
        self.api_base = api_base
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        # Extra litellm arguments for real models (e.g. ``mock_response`` in tests, ``fallbacks``).
        self.completion_kwargs = dict(completion_kwargs or {})

    def _kwargs(
        self, messages: Sequence[Message], model: str, timeout_s: float | None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "timeout": timeout_s if timeout_s is not None else self.timeout_s,
        }
        if is_extractive(model):
            kwargs["num_retries"] = 0
            return kwargs
        kwargs.update(
            num_retries=self.retries, temperature=self.temperature, max_tokens=self.max_tokens
        )
        kwargs.update(self.completion_kwargs)
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs

    def generate(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        timeout_s: float | None = None,
    ) -> Generation:
        """One completion; provider errors become GenerationError / GenerationTimeoutError."""
        litellm = get_litellm()
        name = normalize_model(model or self.model)
        try:
            response = litellm.completion(**self._kwargs(messages, name, timeout_s))
            text = response.choices[0].message.content
        except GenerationError:
            raise
        except Exception as exc:
            raise _convert(exc, name) from exc
        if not isinstance(text, str):
            raise GenerationError(f"model {name} returned no text")
        return Generation(text=text, model=name)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[str]:
        """Text deltas via ``litellm.completion(stream=True)`` (extractive: one whole delta)."""
        name = normalize_model(model or self.model)
        if is_extractive(name):
            yield self.generate(messages, model=name, timeout_s=timeout_s).text
            return
        litellm = get_litellm()
        try:
            for chunk in litellm.completion(stream=True, **self._kwargs(messages, name, timeout_s)):
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    yield delta
        except Exception as exc:
            raise _convert(exc, name) from exc


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
