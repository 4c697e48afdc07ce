"""FeatureReranker: feature scoring, caching, retriever wiring."""

from __future__ import annotations

import numpy as np

from index.retrieval.fusion import Retriever
from index.retrieval.rerank import (
    Candidate,
    FeatureReranker,
    RerankWeights,
)
from index.stores.bm25_store import Bm25Store
from index.stores.faiss_store import FaissStore
from tests.fakes import HashingEmbedder


def _candidates(emb: HashingEmbedder, query: str, texts: list[str]) -> list[Candidate]:
    qv = emb.embed_query(query)
    vecs = emb.embed_documents(texts)
    return [
        Candidate(i, t, float(v @ qv)) for i, (t, v) in enumerate(zip(texts, vecs, strict=True))
    ]


def test_rerank_promotes_the_chunk_covering_the_question() -> None:
    emb = HashingEmbedder(dim=256)
    query = "Which treaty did lawmakers ratify unanimously?"
    texts = [
        "Trade talks continued. Officials met again in the capital.",
        "Lawmakers voted unanimously to ratify the partnership treaty.",
    ]
    out = FeatureReranker(emb).rerank(
        query, emb.embed_query(query), _candidates(emb, query, texts), lambda w: 1.0
    )
    assert [row for row, _ in out] == [1, 0]
    assert out[0][1] > out[1][1]


def test_rerank_prior_only_keeps_the_fused_order() -> None:
    emb = HashingEmbedder(dim=64)
    query = "defense pact"
    texts = ["no overlap at all.", "the defense pact was signed.", "another sentence."]
    weights = RerankWeights(prior=1.0, coverage=0.0, sentence=0.0, chunk=0.0)
    out = FeatureReranker(emb, weights=weights).rerank(
        query, emb.embed_query(query), _candidates(emb, query, texts), lambda w: 1.0
    )
    assert [row for row, _ in out] == [0, 1, 2]


def test_rarer_words_weigh_more() -> None:
    emb = HashingEmbedder(dim=64)
    query = "troops Kursk"
    texts = ["The troops moved.", "They reached Kursk."]
    weights = RerankWeights(prior=0.0, coverage=1.0, sentence=0.0, chunk=0.0)
    idf = {"troops": 0.1, "kursk": 3.0}
    out = FeatureReranker(emb, weights=weights).rerank(
        query, emb.embed_query(query), _candidates(emb, query, texts), lambda w: idf[w]
    )
    assert out[0][0] == 1


def test_headings_do_not_count_as_answer_sentences() -> None:
    emb = HashingEmbedder(dim=256)
    query = "expert opinion on troops"
    text = "Expert opinion on troops\nThe weather was cold and wet that week."
    weights = RerankWeights(prior=0.0, coverage=0.0, sentence=1.0, chunk=0.0)
    out = FeatureReranker(emb, weights=weights).rerank(
        query, emb.embed_query(query), [Candidate(0, text, 0.0)], lambda w: 1.0
    )
    heading_sim = float(
        emb.embed_documents(["Expert opinion on troops"])[0] @ emb.embed_query(query)
    )
    assert out[0][1] < heading_sim - 1e-6


def test_sentence_vectors_are_cached_between_queries() -> None:
    emb = HashingEmbedder(dim=64)
    rer = FeatureReranker(emb)
    cands = _candidates(emb, "pact", ["The pact was signed.", "Troops moved."])
    q1, q2 = emb.embed_query("pact"), emb.embed_query("troops")
    calls = emb.calls
    rer.rerank("pact", q1, cands, lambda w: 1.0)
    assert emb.calls == calls + 1
    rer.rerank("troops", q2, cands, lambda w: 1.0)
    assert emb.calls == calls + 1


TEXTS = [
    "North Korean troops were deployed to the Kursk region of Russia.",
    "Kim Jong Un and Vladimir Putin signed a mutual defense pact.",
    "Ukraine asked NATO to establish a no-fly zone.",
    "Zelenskyy asked allies for advanced weaponry and logistical support.",
]


def test_retriever_with_reranker_returns_unique_rows_with_falling_scores() -> None:
    emb = HashingEmbedder(dim=128)
    rows = np.arange(100, 104, dtype=np.int64)
    vectors = FaissStore(emb.dim)
    vectors.add(rows, emb.embed_documents(TEXTS))
    texts = dict(zip(rows.tolist(), TEXTS, strict=True))
    ret = Retriever(
        emb,
        vectors,
        Bm25Store.build(rows.tolist(), TEXTS),
        reranker=FeatureReranker(emb, depth=2),
        text_of=texts.get,
    )
    out = ret.search("Who signed the mutual defense pact?", 4, "hybrid")
    assert out[0].row_id == 101
    assert len({r.row_id for r in out}) == len(out) == 4
    scores = [r.score for r in out]
    assert scores == sorted(scores, reverse=True)
    # dense and bm25 modes are not re-ranked: scores are the stores' own.
    dense = ret.search("mutual defense pact", 2, "dense")
    assert dense[0].score == dense[0].dense_score


def test_bm25_word_idf_prefers_rare_words() -> None:
    store = Bm25Store.build([1, 2, 3], ["troops moved", "troops stayed", "Kursk troops"])
    assert store.word_idf("Kursk") > store.word_idf("troops")
    assert store.word_idf("unseen") >= store.word_idf("Kursk")
