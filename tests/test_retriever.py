"""Retriever: reciprocal rank fusion and the three modes over real stores."""

from __future__ import annotations

import numpy as np
import pytest

from index.retrieval.fusion import Retriever, reciprocal_rank_fusion
from index.stores.bm25_store import Bm25Store
from index.stores.faiss_store import FaissStore
from tests.fakes import HashingEmbedder

TEXTS = [
    "North Korean troops were deployed to the Kursk region of Russia.",
    "Kim Jong Un and Vladimir Putin signed a mutual defense pact.",
    "Ukraine asked NATO to establish a no-fly zone.",
    "Zelenskyy asked allies for advanced weaponry and logistical support.",
]


def _retriever() -> Retriever:
    emb = HashingEmbedder(dim=128)
    vectors = FaissStore(emb.dim)
    rows = np.arange(100, 104, dtype=np.int64)
    vectors.add(rows, emb.embed_documents(TEXTS))
    return Retriever(emb, vectors, Bm25Store.build(rows.tolist(), TEXTS))


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 1]], rrf_k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [r for r, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 1]])] == [1, 3, 2]


def test_rrf_weights_and_ties() -> None:
    # (1, 2) and (2, 1) tie exactly: the first list decides.
    assert [r for r, _ in reciprocal_rank_fusion([[7, 8], [8, 7]])] == [7, 8]
    assert [r for r, _ in reciprocal_rank_fusion([[7, 8], [8, 7]], weights=[0.5, 1.0])] == [8, 7]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_pact(mode: str) -> None:
    rows = _retriever().search("mutual defense pact signed by Putin", 2, mode)  # type: ignore[arg-type]
    assert rows[0].row_id == 101
    assert len({r.row_id for r in rows}) == len(rows)
    if mode == "hybrid":
        assert rows[0].dense_score is not None
        assert rows[0].keyword_score is not None
    if mode == "dense":
        assert rows[0].keyword_score is None
        assert rows[0].score == rows[0].dense_score


def test_allowed_rows_restrict_every_mode() -> None:
    ret = _retriever()
    for mode in ("dense", "bm25", "hybrid"):
        rows = ret.search("defense pact", 4, mode, allowed=[102, 103])
        assert {r.row_id for r in rows} <= {102, 103}


def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        _retriever().search("x", 3, "sparse")  # type: ignore[arg-type]
