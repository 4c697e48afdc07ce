"""``FallbackGenerator``: a chain of generators that is itself a generator.

The requested model answers; when it fails (provider error, timeout, unusable reply) the
configured fallback model is tried, and the extractive generator, which needs no network, answers
last. The result says it was degraded, and why, and everything stays within the deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace

from index.errors import GenerationError, GenerationTimeoutError
from service.answering.evidence import Draft
from service.answering.generators.litellm_generator import LiteLLMGenerator
from service.answering.generators.llm_format import UnparseableOutputError
from service.answering.generators.protocol import (
    Generation,
    GenerationRequest,
    Generator,
    StreamedSentence,
    is_extractive,
    normalize_model,
)

logger = logging.getLogger(__name__)

# Below this much time left, no further model is tried: the last resort answers at once.
_MIN_ATTEMPT_S = 0.5
_LAST_RESORT_TIMEOUT_S = 5.0


class FallbackGenerator:
    """Tries ``llm`` with the requested model, then ``fallback_model``, then ``last_resort``.

    ``llm`` is ``None`` when only the extractive generator is configured; a request for an
    ``extractive`` model goes straight to ``last_resort`` and is not degraded.
    """

    def __init__(
        self,
        model: str,
        last_resort: Generator,
        *,
        llm: LiteLLMGenerator | None = None,
        fallback_model: str | None = None,
        deadline_s: float = 45.0,
    ) -> None:
        self._model = normalize_model(model)
        self.llm = llm
        self.last_resort = last_resort
        self.fallback_model = normalize_model(fallback_model) if fallback_model else None
        self.deadline_s = deadline_s

    @property
    def model(self) -> str:
        return self._model

    def generate(self, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        model = normalize_model(request.model or self._model)
        if is_extractive(model) or self.llm is None:
            return self.last_resort.generate(replace(request, model=model))
        chain = [model]
        if self.fallback_model and self.fallback_model not in chain:
            chain.append(self.fallback_model)
        failure: str | None = None
        code: str | None = None
        for name in chain:
            remaining = self.deadline_s - (time.perf_counter() - started)
            if remaining <= _MIN_ATTEMPT_S:
                failure = failure or "answer deadline reached"
                break
            attempt = self.last_resort if is_extractive(name) else self.llm
            timeout = min(remaining, self.llm.timeout_s)
            try:
                gen = attempt.generate(replace(request, model=name, timeout_s=timeout))
            except GenerationError as exc:
                logger.warning("generation with %s failed: %s", name, exc)
                failure = f"{name}: {exc}"
                code = code or fallback_code(exc)
                continue
            degraded = name != model
            return replace(
                gen,
                degraded=degraded,
                degraded_reason=failure if degraded else None,
                fallback_reason=code if degraded else None,
            )
        reason = failure or "the configured model failed"
        last = self.last_resort.generate(replace(request, timeout_s=_LAST_RESORT_TIMEOUT_S))
        return replace(
            last, degraded=True, degraded_reason=reason, fallback_reason=code or "timeout"
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamedSentence | Generation]:
        """The LLM's sentences as they complete, then its Generation; when it fails before the
        first sentence, the chain answers (not streamed); after it, what was streamed stands."""
        model = normalize_model(request.model or self._model)
        if is_extractive(model) or self.llm is None:
            yield self.generate(request)
            return
        sent: list[StreamedSentence] = []
        try:
            timeout = min(self.deadline_s, self.llm.timeout_s)
            for item in self.llm.stream(replace(request, model=model, timeout_s=timeout)):
                if isinstance(item, StreamedSentence):
                    sent.append(item)
                yield item
            return
        except GenerationError as exc:
            logger.warning("streaming with %s failed: %s", model, exc)
            if not sent:
                last = self.last_resort.generate(replace(request, timeout_s=_LAST_RESORT_TIMEOUT_S))
                yield replace(
                    last,
                    degraded=True,
                    degraded_reason=f"{model}: {exc}",
                    fallback_reason=fallback_code(exc),
                )
                return
            partial = Draft(
                abstained=False,
                sentences=tuple(s.sentence for s in sent),
                quotes=tuple(q for s in sent for q in s.quotes),
            )
            yield Generation(
                draft=partial,
                model=model,
                degraded=True,
                degraded_reason=f"{model}: {exc} (the reply was cut short)",
                generator="llm",
                fallback_reason=fallback_code(exc),
            )


def fallback_code(exc: GenerationError) -> str:
    """Why a model's answer was replaced: ``timeout``, ``format`` (no usable reply) or ``error``."""
    if isinstance(exc, GenerationTimeoutError):
        return "timeout"
    if isinstance(exc, UnparseableOutputError):
        return "format"
    return "error"
