"""The store contract, run against both backends: the embedded index (FAISS + BM25 files) and
PostgreSQL + pgvector (a real server, see ``postgres_server`` in conftest). The same calls must
give the same documents, chunks, offsets and rankings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from index.corpus import CorpusIndex
from index.errors import DocumentNotFoundError, IndexMismatchError, InvalidQueryError
from index.models import Document
from index.pg_corpus import PostgresCorpusIndex
from tests.fakes import HashingEmbedder, seed_documents

PACT = Document(
    id="pact",
    text="Kim Jong Un and Vladimir Putin signed a mutual defense pact in June 2024.",
    title="The pact",
)
KURSK = Document(
    id="kursk",
    text="Thousands of North Korean soldiers were sent to the Kursk region of Russia.",
    title="Kursk deployment",
)
NOFLY = Document(
    id="nofly",
    text="Ukraine asked NATO to establish a no-fly zone, which Western powers declined.",
    title="No-fly zone",
)

BACKENDS = ["embedded", pytest.param("postgres", marks=pytest.mark.integration)]


def open_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    embedder = HashingEmbedder(dim=64)
    if name == "embedded":
        return CorpusIndex.create(tmp_path / "index", embedder)
    index = PostgresCorpusIndex.open(request.getfixturevalue("postgres_url"), embedder)
    request.addfinalizer(index.close)
    return index


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    index = open_backend(request.param, request, tmp_path)
    index.add_documents([PACT, KURSK, NOFLY])
    return index


def test_postgres_contract_search_finds_the_document_with_exact_offsets(backend: Any) -> None:
    hits = backend.search("Who signed the mutual defense pact?", top_k=3)
    assert hits[0].chunk.doc_id == "pact"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for hit in hits:
        doc = backend.get_document(hit.chunk.doc_id)
        assert doc.text[hit.chunk.start : hit.chunk.end] == hit.chunk.text
    assert backend.n_documents == 3
    assert {d.id for d in backend.list_documents()} == {"pact", "kursk", "nofly"}


def test_postgres_contract_reingesting_an_unchanged_document_is_a_no_op(backend: Any) -> None:
    version = backend.version
    report = backend.add_documents([PACT, KURSK])
    assert report.chunks == 0
    assert report.unchanged == 2
    assert backend.version == version


def test_postgres_contract_replace_swaps_every_chunk(backend: Any) -> None:
    new = Document(id="pact", text="The treaty was renegotiated in Pyongyang.", title="The pact")
    backend.add_documents([new])
    chunks = backend.chunks_for("pact")
    assert "".join(c.text for c in chunks).strip() == new.text
    assert backend.get_document("pact").text == new.text
    hits = backend.search("renegotiated Pyongyang", top_k=1, mode="bm25")
    assert hits[0].chunk.doc_id == "pact"
    assert not any("Putin" in h.chunk.text for h in backend.search("Putin", top_k=5))


def test_postgres_contract_delete_removes_the_document(backend: Any) -> None:
    backend.delete_document("kursk")
    assert backend.n_documents == 2
    with pytest.raises(DocumentNotFoundError):
        backend.get_document("kursk")
    with pytest.raises(DocumentNotFoundError):
        backend.delete_document("kursk")
    assert all(h.chunk.doc_id != "kursk" for h in backend.search("Kursk soldiers", top_k=5))


def test_postgres_contract_filters_restrict_results(backend: Any) -> None:
    hits = backend.search("soldiers pact zone", top_k=5, filters={"doc_id": "nofly"})
    assert {h.chunk.doc_id for h in hits} == {"nofly"}
    hits = backend.search("soldiers pact zone", top_k=5, filters={"title_contains": "KURSK"})
    assert {h.chunk.doc_id for h in hits} == {"kursk"}
    with pytest.raises(InvalidQueryError):
        backend.search("x", filters={"colour": "red"})
    with pytest.raises(InvalidQueryError):
        backend.search("x", top_k=0)


@pytest.mark.integration
def test_postgres_keyword_scores_equal_the_embedded_bm25(postgres_url: str, tmp_path: Path) -> None:
    """Same terms, same BM25 (Lucene IDF, k1, b): Postgres scores match bm25s on the seeds."""
    embedder = HashingEmbedder(dim=64)
    docs = seed_documents()
    embedded = CorpusIndex.create(tmp_path / "index", embedder)
    embedded.add_documents(docs)
    pg = PostgresCorpusIndex.open(postgres_url, embedder)
    try:
        pg.add_documents(docs)
        assert pg.n_chunks == embedded.n_chunks
        for query in ("mutual defense pact", "North Korean troops Kursk", "sanctions on Russia"):
            ours = [(h.chunk.id, h.score) for h in pg.search(query, top_k=10, mode="bm25")]
            theirs = [(h.chunk.id, h.score) for h in embedded.search(query, top_k=10, mode="bm25")]
            assert [c for c, _ in ours] == [c for c, _ in theirs]
            assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-4)
    finally:
        pg.close()


@pytest.mark.integration
def test_postgres_hybrid_ranking_equals_the_embedded_one(postgres_url: str, tmp_path: Path) -> None:
    embedder = HashingEmbedder(dim=64)
    docs = seed_documents()
    embedded = CorpusIndex.create(tmp_path / "index", embedder)
    embedded.add_documents(docs)
    pg = PostgresCorpusIndex.open(postgres_url, embedder)
    try:
        pg.add_documents(docs)
        for query in ("Who signed the mutual defense pact?", "How many troops were sent?"):
            ours = [h.chunk.id for h in pg.search(query, top_k=5)]
            theirs = [h.chunk.id for h in embedded.search(query, top_k=5)]
            assert ours == theirs
    finally:
        pg.close()


@pytest.mark.integration
def test_postgres_refuses_a_database_built_for_another_model(postgres_url: str) -> None:
    PostgresCorpusIndex.open(postgres_url, HashingEmbedder(dim=64)).close()
    with pytest.raises(IndexMismatchError, match="dimension"):
        PostgresCorpusIndex.open(postgres_url, HashingEmbedder(dim=32))
