"""The ``Generator`` protocol: a request (question, its analysis, numbered sources) in, a
:class:`~service.answering.evidence.Draft` out. Backends: extractive (no model), litellm (any
LLM), and the fallback chain, which is a generator itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from service.answering.evidence import Draft, DraftSentence, Quote, Source
from service.answering.question import QuestionInfo

EXTRACTIVE_PROVIDER = "extractive"
EXTRACTIVE_MODEL = "extractive/default"


def normalize_model(model: str) -> str:
    """Maps the settings shorthand ``extractive`` to the full model string."""
    return EXTRACTIVE_MODEL if model.strip() == EXTRACTIVE_PROVIDER else model.strip()


def is_extractive(model: str) -> bool:
    return normalize_model(model).split("/", 1)[0] == EXTRACTIVE_PROVIDER


@dataclass(frozen=True)
class GenerationRequest:
    """What a generator answers from; ``model`` overrides the generator's own, if it has one."""

    question: str
    analysis: QuestionInfo
    sources: tuple[Source, ...]
    model: str | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class Generation:
    """A generator's draft, the model that wrote it, and whether a fallback had to answer."""

    draft: Draft
    model: str
    degraded: bool = False
    degraded_reason: str | None = None
    generator: str = "extractive"  # "llm" or "extractive": who wrote the draft
    fallback_reason: str | None = None  # timeout | error | format, when a fallback answered
    raw_text: str | None = None  # the model's reply as written (for the eval's naive baseline)
    completion_tokens: int | None = None


@dataclass(frozen=True)
class StreamedSentence:
    """One draft sentence that is complete while the reply is still being generated."""

    sentence: DraftSentence
    quotes: tuple[Quote, ...] = ()


class Generator(Protocol):
    """Drafts an answer from the sources (raises ``GenerationError`` on failure)."""

    @property
    def model(self) -> str: ...

    def generate(self, request: GenerationRequest) -> Generation: ...


@runtime_checkable
class StreamingGenerator(Protocol):
    """A generator that also yields its sentences as they are written, then its Generation
    (whose draft holds every sentence, including those already streamed)."""

    @property
    def model(self) -> str: ...

    def generate(self, request: GenerationRequest) -> Generation: ...

    def stream(self, request: GenerationRequest) -> Iterator[StreamedSentence | Generation]: ...
