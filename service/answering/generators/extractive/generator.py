"""The default generator: the general answerer over typed sources, no model call, no network.

It reads the answer out of the retrieved sentences with fitted linear models over general
signals (word overlap and rarity, embedding similarity, answer type against span shape,
retrieval rank; see :mod:`.answer`), leads with a short answer and cites the sentence it stands
in, and abstains below a calibrated confidence threshold. For "how many / how much" questions it
also cites the best sentence of every other retrieved document that gives a figure, so
differing figures can be reported per source (:mod:`service.answering.conflicts`).

Example::

    gen = ExtractiveGenerator(index)            # anything with sentence_vectors/query_vector
    draft = gen.generate(GenerationRequest(q, analyse_question(q), sources)).draft
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from index.text.tokens import rarity, tokenize
from service.answering.evidence import Draft, Quote, draft_sentence
from service.answering.generators.extractive.answer import answer, load_model
from service.answering.generators.extractive.model import FittedModel
from service.answering.generators.extractive.types import Extracted, Passage
from service.answering.generators.protocol import EXTRACTIVE_MODEL, Generation, GenerationRequest

logger = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent / "general-answerer-v1.json"


class VectorSource(Protocol):
    """Where the answerer gets unit-norm vectors (the index: its embedder and sentence cache)."""

    def query_vector(self, text: str) -> np.ndarray: ...

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray: ...


@lru_cache(maxsize=4)
def _model(path: Path) -> FittedModel:
    return load_model(path)


class ExtractiveGenerator:
    """Drafts a cited answer (or an abstention with a reason and a confidence) from sources."""

    def __init__(self, vectors: VectorSource, *, model_path: Path = MODEL_PATH) -> None:
        self.vectors = vectors
        self.fitted = _model(model_path)

    @property
    def model(self) -> str:
        return EXTRACTIVE_MODEL

    @property
    def threshold(self) -> float:
        return self.fitted.threshold

    def generate(self, request: GenerationRequest) -> Generation:
        passages = [
            Passage(s.n, s.doc_id, s.chunk_id, s.title, s.text, s.start, s.score, s.n)
            for s in request.sources
        ]
        extracted = answer(
            request.question,
            passages,
            self.vectors.sentence_vectors,
            self.vectors.query_vector(request.question),
            self.fitted,
        )
        return Generation(draft=to_draft(extracted, request), model=EXTRACTIVE_MODEL)


def to_draft(extracted: Extracted, request: GenerationRequest) -> Draft:
    """The answerer's extraction as a draft the verifier checks like any generator's."""
    if extracted.abstained:
        reason = _REASONS.get(extracted.abstain_reason or "", "the sources do not answer it")
        missing = missing_words(request)
        if missing:
            shown = ", ".join(f'"{w}"' for w in missing)
            reason = f"{reason}; they never mention {shown}"
        return Draft(
            abstained=True,
            sentences=(),
            quotes=(),
            reason=reason,
            confidence=extracted.confidence,
            abstain_code=extracted.abstain_reason,
        )
    by_n = {s.n: s for s in request.sources}
    quotes = tuple(Quote(n, by_n[n].text[s:e], (s, e)) for n, s, e in extracted.quotes)
    marks = "".join(f"[{q.n}]" for q in quotes[:1])
    sentences = []
    if extracted.short_answer:
        lead = extracted.short_answer.rstrip(".!?")
        sentences.append(draft_sentence(f"{lead} {marks}."))
    for q in quotes:
        body = q.text.strip()
        end = body[-1] if body[-1:] in ".!?" else "."
        body = body.rstrip(".!?")
        sentences.append(draft_sentence(f"{body} [{q.n}]{end}"))
    return Draft(
        abstained=False,
        sentences=tuple(sentences),
        quotes=quotes,
        confidence=extracted.confidence,
    )


def missing_words(request: GenerationRequest, most: int = 3) -> list[str]:
    """The question's rarest content words that no retrieved passage contains, as written."""
    present = {tok.term for s in request.sources for tok in tokenize(s.text) if tok.term}
    absent = {
        tok.term: tok.text
        for tok in request.analysis.tokens
        if tok.term and tok.term not in present and not tok.is_number
    }
    ranked = sorted(absent.values(), key=lambda w: -rarity(w.casefold()))
    return ranked[:most]


_REASONS = {
    "no_evidence": "no retrieved passage has a sentence to answer from",
    "low_confidence": "the retrieved passages do not clearly answer the question",
    "question_outside_corpus": "the documents do not talk about what the question asks",
}
