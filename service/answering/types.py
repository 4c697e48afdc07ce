"""Frozen value types of an answer: what every adapter renders and the eval harness scores."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A verbatim quote backing part of an answer: ``original_text[start:end] == quote``."""

    id: int
    doc_id: str
    chunk_id: str
    title: str
    quote: str
    start: int
    end: int
    page: int | None = None  # 1-based page of ``start`` in paginated documents (PDF)
    page_end: int | None = None  # the last page, when the quote runs onto the next one
    # "model": the generator quoted this passage of the source it named; "attributed": the
    # verifier found the evidence sentence itself (no usable quote, or the wrong source number).
    origin: str = "model"

    @property
    def pages_label(self) -> str:
        """ "p. 2", "pp. 2-3", or "" for documents without pages."""
        if self.page is None:
            return ""
        return f"pp. {self.page}-{self.page_end}" if self.page_end else f"p. {self.page}"


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of the answer and the citation ids that support it."""

    text: str
    citations: tuple[int, ...]
    supported: bool = True


@dataclass(frozen=True)
class ConflictValue:
    """One value a source gives for a disputed quantity."""

    value: str
    citation: int
    doc_id: str
    attribution: str = ""


@dataclass(frozen=True)
class Conflict:
    """Sources that give different values for the same thing (e.g. troop numbers)."""

    topic: str
    values: tuple[ConflictValue, ...]


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: str
    doc_id: str
    score: float


@dataclass(frozen=True)
class Answer:
    """The result of ``AnswerPipeline.answer``; ``answer`` carries ``[n]`` citation markers."""

    answer: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    sentences: tuple[AnswerSentence, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    abstain_reason: str | None = None
    model: str = ""
    prompt_version: str = ""
    index_version: str = ""
    retrieved: tuple[RetrievedChunk, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    degraded: bool = False
    degraded_reason: str | None = None
    # Calibrated probability that the answer is correct (of answers given with 0.8, about 80%
    # were right on held-out articles); None when the generator gives no estimate.
    confidence: float | None = None
    # Why it abstained: no_evidence | low_confidence | question_outside_corpus.
    abstain_code: str | None = None
    # What was searched when a follow-up was rewritten from the conversation; None when the
    # question itself was searched.
    retrieval_query: str | None = None
    # Which generator wrote the draft ("llm" or "extractive"), and when the configured LLM was
    # replaced by a fallback, why: timeout | error | format.
    generator: str = ""
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return asdict(self)


@dataclass(frozen=True)
class StreamEvent:
    """A verified sentence (``text``, with the citations it introduces), or, last, the whole
    ``answer`` (``text`` empty)."""

    text: str = ""
    citations: tuple[Citation, ...] = ()
    answer: Answer | None = None
