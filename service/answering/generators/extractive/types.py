"""The answerer's interface types: what goes in (passages) and what comes out (an extraction)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# Maps sentence strings to their unit-norm vectors (rows in the same order); the product passes
# the reranker's cache, so the sentences of retrieved chunks are usually embedded already.
SentenceVectors = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk; ``start`` is the offset of ``text`` in its document."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    text: str
    start: int
    score: float
    rank: int


@dataclass(frozen=True)
class Extracted:
    """The answer: a short lead, the verbatim sentence(s) it cites, and P(correct)."""

    short_answer: str | None
    quotes: list[tuple[int, int, int]]  # (passage n, start, end) offsets into passage.text
    confidence: float
    abstain_reason: str | None  # no_evidence | low_confidence | question_outside_corpus
    answer_text: str = ""  # what a reader is shown as the answer (the lead, or the sentence)

    @property
    def abstained(self) -> bool:
        return self.abstain_reason is not None


@dataclass(frozen=True)
class SentenceCand:
    """One distinct sentence of the retrieved passages (the first, best-ranked copy of it)."""

    passage: Passage
    start: int  # offsets into passage.text
    end: int
    index: int  # position among the passage's sentences
    prev_text: str  # the sentence before it in the same passage ("" if first)

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]

    @property
    def doc_span(self) -> tuple[str, int, int]:
        return (self.passage.doc_id, self.passage.start + self.start, self.passage.start + self.end)
