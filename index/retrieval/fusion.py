"""Dense, keyword and fused retrieval over the two stores, in row-id space.

The corpus layer maps row ids to chunks. Fusion is reciprocal rank fusion (RRF): each list
contributes ``weight / (rrf_k + rank)``; it needs no score calibration between cosine and BM25.
Dense-only vs fused numbers on ``tests/data/retrieval_questions.jsonl`` decide the default.
Hybrid search then re-orders the fused top candidates with
:class:`index.retrieval.rerank.FeatureReranker` when one is given (with a ``text_of`` lookup for
row texts); those rows carry the re-ranker's score, the rows after them their fused score capped
so that scores never rise down the list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from index.embedders.protocol import Embedder
from index.retrieval.rerank import Candidate, FeatureReranker
from index.stores.bm25_store import Bm25Store
from index.stores.faiss_store import VectorStore

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
RRF_K = 60
# Weight of the dense list in RRF (the keyword list gets 1.0).
DENSE_WEIGHT = 1.0
# How deep each list is read before fusing (hybrid).
FUSION_DEPTH = 30


@dataclass(frozen=True)
class ScoredRow:
    """One retrieved row with the score used to rank it and each list's own score."""

    row_id: int
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None


def reciprocal_rank_fusion(
    ranked_lists: Sequence[Sequence[int]],
    *,
    weights: Sequence[float] | None = None,
    rrf_k: int = RRF_K,
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: ``sum(weight / (rrf_k + rank))``, rank from 1; best first."""
    totals: dict[int, float] = {}
    first_seen: dict[int, int] = {}
    weights = weights if weights is not None else [1.0] * len(ranked_lists)
    order = 0
    for ranking, weight in zip(ranked_lists, weights, strict=True):
        for rank, row in enumerate(ranking, start=1):
            totals[row] = totals.get(row, 0.0) + weight / (rrf_k + rank)
            if row not in first_seen:
                first_seen[row] = order
                order += 1
    # Ties (same fused score) keep the order rows were first seen in: dense list first.
    return sorted(totals.items(), key=lambda item: (-item[1], first_seen[item[0]]))


class Retriever:
    """Runs one query against the vector and keyword stores and fuses the results."""

    def __init__(
        self,
        embedder: Embedder,
        vectors: VectorStore,
        keywords: Bm25Store,
        *,
        rrf_k: int = RRF_K,
        dense_weight: float = DENSE_WEIGHT,
        depth: int = FUSION_DEPTH,
        reranker: FeatureReranker | None = None,
        text_of: Callable[[int], str | None] | None = None,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.depth = depth
        self.reranker = reranker
        self.text_of = text_of

    def search(
        self,
        query: str,
        k: int,
        mode: Mode = "hybrid",
        *,
        allowed: Sequence[int] | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[ScoredRow]:
        """Top ``k`` rows for ``query``; ``allowed`` restricts to those row ids."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; expected one of {MODES}")
        if k <= 0:
            return []
        dense: list[tuple[int, float]] = []
        keyword: list[tuple[int, float]] = []
        vec: np.ndarray | None = None
        depth = max(k, self.depth) if mode == "hybrid" else k
        if mode in ("hybrid", "dense"):
            vec = query_vector if query_vector is not None else self.embedder.embed_query(query)
            dense = self.vectors.search(vec, depth, allowed)
        if mode in ("hybrid", "bm25"):
            keyword = self.keywords.search(query, depth, allowed)
        return fuse_lists(
            query,
            k,
            mode,
            dense,
            keyword,
            query_vector=vec,
            rrf_k=self.rrf_k,
            dense_weight=self.dense_weight,
            reranker=self.reranker,
            text_of=self.text_of,
            word_idf=self.keywords.word_idf,
        )


def fuse_lists(
    query: str,
    k: int,
    mode: Mode,
    dense: Sequence[tuple[int, float]],
    keyword: Sequence[tuple[int, float]],
    *,
    query_vector: np.ndarray | None,
    rrf_k: int = RRF_K,
    dense_weight: float = DENSE_WEIGHT,
    reranker: FeatureReranker | None = None,
    text_of: Callable[[int], str | None] | None = None,
    word_idf: Callable[[str], float] | None = None,
) -> list[ScoredRow]:
    """The top ``k`` of a dense and a keyword list (each (row, score), best first): one list
    alone for ``dense``/``bm25``, RRF then the re-ranker for ``hybrid``. Every backend that
    fetches the two lists its own way (FAISS + BM25, or one SQL query) ranks through here."""
    if mode == "dense":
        return [ScoredRow(r, s, dense_score=s) for r, s in dense[:k]]
    if mode == "bm25":
        return [ScoredRow(r, s, keyword_score=s) for r, s in keyword[:k]]
    dense_scores = dict(dense)
    keyword_scores = dict(keyword)
    fused = reciprocal_rank_fusion(
        [[r for r, _ in dense], [r for r, _ in keyword]],
        weights=[dense_weight, 1.0],
        rrf_k=rrf_k,
    )
    if (
        reranker is not None
        and text_of is not None
        and word_idf is not None
        and query_vector is not None
        and dense
    ):
        fused = _rerank(reranker, text_of, word_idf, query, query_vector, fused, dense_scores)
    return [
        ScoredRow(
            r,
            s,
            dense_score=dense_scores.get(r),
            keyword_score=keyword_scores.get(r),
        )
        for r, s in fused[:k]
    ]


def _rerank(
    reranker: FeatureReranker,
    text_of: Callable[[int], str | None],
    word_idf: Callable[[str], float],
    query: str,
    query_vector: np.ndarray,
    fused: list[tuple[int, float]],
    dense_scores: dict[int, float],
) -> list[tuple[int, float]]:
    """``fused`` with its top ``reranker.depth`` rows re-ordered; scores stay non-increasing."""
    # A row missing from the dense list ranked below all of it, so (exact search) its cosine
    # is at most the lowest one listed.
    floor = min(dense_scores.values())
    candidates: list[Candidate] = []
    for row, _ in fused[: reranker.depth]:
        text = text_of(row)
        if text is None:
            break
        candidates.append(Candidate(row, text, dense_scores.get(row, floor)))
    head = reranker.rerank(query, query_vector, candidates, word_idf)
    out = list(head)
    last = head[-1][1] if head else float("inf")
    for row, score in fused[len(candidates) :]:
        last = min(last, score)
        out.append((row, last))
    return out
