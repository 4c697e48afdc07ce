"""Dense, keyword and fused retrieval over the two stores, in row-id space.

The corpus layer maps row ids to chunks. Fusion is reciprocal rank fusion (RRF): each list
contributes ``weight / (rrf_k + rank)``; it needs no score calibration between cosine and BM25.
Dense-only vs fused numbers on ``tests/data/retrieval_questions.jsonl`` decide the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from index.embedding import Embedder
from index.keyword_store import Bm25Store
from index.vector_store import VectorStore

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
RRF_K = 60
# Weight of the dense list in RRF (the keyword list gets 1.0).
DENSE_WEIGHT = 1.0


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
        depth: int = 30,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.depth = depth

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
        depth = max(k, self.depth) if mode == "hybrid" else k
        if mode in ("hybrid", "dense"):
            vec = query_vector if query_vector is not None else self.embedder.embed_query(query)
            dense = self.vectors.search(vec, depth, allowed)
        if mode in ("hybrid", "bm25"):
            keyword = self.keywords.search(query, depth, allowed)
        if mode == "dense":
            return [ScoredRow(r, s, dense_score=s) for r, s in dense[:k]]
        if mode == "bm25":
            return [ScoredRow(r, s, keyword_score=s) for r, s in keyword[:k]]
        dense_scores = dict(dense)
        keyword_scores = dict(keyword)
        fused = reciprocal_rank_fusion(
            [[r for r, _ in dense], [r for r, _ in keyword]],
            weights=[self.dense_weight, 1.0],
            rrf_k=self.rrf_k,
        )
        return [
            ScoredRow(
                r,
                s,
                dense_score=dense_scores.get(r),
                keyword_score=keyword_scores.get(r),
            )
            for r, s in fused[:k]
        ]
