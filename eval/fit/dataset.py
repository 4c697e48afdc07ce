"""The cached dev data as answerer inputs, and the scoring rule the fit is judged by.

Scoring is the SQuAD dev README's (:mod:`eval.squad.data`): an answerable question is correct when
the answerer did not abstain, a normalised gold answer is contained in the normalised answer text,
and a quote covers a gold span. Seeds gold items instead need every alias group matched
(``eval.metrics.groups_matched``, as the seeds eval scores) and a quote covering an evidence quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from eval.fit.cache import Cache
from eval.gold import Alias, NumberAlias
from eval.metrics import groups_matched
from eval.squad.data import contains_answer
from service.answering.generators.extractive.types import Extracted, Passage
from service.answering.pipeline import COUNT_TOP_K
from service.answering.question import analyse_question, asks_for_a_quantity


@dataclass(frozen=True)
class Item:
    """One dev question with its retrieved passages (best first) and gold data."""

    id: str
    question: str
    article: str  # the leave-one-article-out group
    answerable: bool
    answers: tuple[str, ...]  # SQuAD answer texts (empty for seeds items)
    groups: tuple[tuple[Alias, ...], ...]  # seeds alias groups (empty for SQuAD items)
    spans: tuple[tuple[str, int, int], ...]  # (doc id, start, end) gold spans
    passages: tuple[Passage, ...]
    qvec: np.ndarray


class VectorLookup:
    """``sentence_vectors`` over the cached table; a sentence never cached gets zeros (counted:
    the command refuses a fit with misses, since the cache would not match the code)."""

    def __init__(self, sentences: Sequence[str], vectors: np.ndarray) -> None:
        self.rows = {s: i for i, s in enumerate(sentences)}
        self.vectors = vectors
        self.dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[1] else 384
        self.misses = 0

    def merged(self, other: VectorLookup) -> VectorLookup:
        """One lookup over both tables (a sentence in both keeps this one's vector)."""
        extra = [s for s in other.rows if s not in self.rows]
        rows = [other.vectors[other.rows[s]] for s in extra]
        vectors = np.vstack([self.vectors, *rows]) if rows else self.vectors
        return VectorLookup([*self.rows, *extra], vectors)

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for i, s in enumerate(sentences):
            row = self.rows.get(s)
            if row is None:
                self.misses += 1
            else:
                out[i] = self.vectors[row]
        return out


def _alias(raw: object) -> Alias:
    if isinstance(raw, dict):
        return NumberAlias(float(raw["number"]), float(raw.get("tolerance", 0)))
    return str(raw)


def load_items(cache: Cache) -> tuple[list[Item], VectorLookup]:
    """The cache's questions as :class:`Item` s, and its sentence-vector lookup."""
    chunks = cache.data["chunks"]
    items = []
    for i, raw in enumerate(cache.data["items"]):
        passages = []
        for n, (chunk_id, score, _rank) in enumerate(raw["hits"], start=1):
            c = chunks[chunk_id]
            # As the product builds them: numbered and ranked by position.
            passages.append(
                Passage(n, c["doc_id"], chunk_id, c["title"], c["text"], c["start"], score, n)
            )
        items.append(
            Item(
                id=raw["id"],
                question=" ".join(str(raw["question"]).split()),
                article=raw["article"],
                answerable=bool(raw["answerable"]),
                answers=tuple(raw.get("answers", ())),
                groups=tuple(tuple(_alias(a) for a in g) for g in raw.get("groups", ())),
                spans=tuple((str(d), int(s), int(e)) for d, s, e in raw["spans"]),
                passages=tuple(passages),
                qvec=cache.question_vectors[i],
            )
        )
    return items, VectorLookup(cache.data["sentences"], cache.sentence_vectors)


def limit_passages(items: Sequence[Item], top_k: int | None, served_top_k: int) -> list[Item]:
    """Each item's first ``top_k`` passages; ``None`` = as served: ``served_top_k`` (the
    settings' ``top_k``), or ``COUNT_TOP_K`` for questions asking for a quantity, as
    ``AnswerPipeline.answer`` retrieves."""
    out = []
    for it in items:
        k = top_k
        if k is None:
            quantity = asks_for_a_quantity(analyse_question(it.question))
            k = max(served_top_k, COUNT_TOP_K) if quantity else served_top_k
        out.append(replace(it, passages=it.passages[:k]))
    return out


def contains_gold(item: Item, text: str) -> bool:
    """SQuAD items: a normalised gold answer is contained in the text; seeds items: every
    alias group matches."""
    if item.groups:
        return all(groups_matched(item.groups, text))
    return contains_answer(text, item.answers)


def covers_gold(item: Item, doc_id: str, start: int, end: int) -> bool:
    """A document span covers one of the item's gold spans."""
    return any(d == doc_id and start <= s and e <= end for d, s, e in item.spans)


def is_correct(item: Item, out: Extracted) -> bool:
    """Not abstained, answerable, a quote covering a gold span, and the gold answer in the text."""
    if out.abstained or not item.answerable:
        return False
    by_n = {p.n: p for p in item.passages}
    cited = any(
        covers_gold(item, by_n[n].doc_id, by_n[n].start + s, by_n[n].start + e)
        for n, s, e in out.quotes
        if n in by_n
    )
    return cited and contains_gold(item, out.answer_text)
