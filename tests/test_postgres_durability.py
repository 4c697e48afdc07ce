"""PostgreSQL backend under failure and concurrency: kill -9 mid-ingest, readers during writes,
and a database left at an older schema version."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from index.embedders.tokenizer import load_default_tokenizer
from index.ingestion.plan import chunk_new_documents
from index.models import Document
from index.pg_corpus import PostgresCorpusIndex
from index.storage.pg_schema import SCHEMA_VERSION, WRITE_LOCK, migrate, schema_version
from index.stores.postgres import tsvector_literal, vector_literal
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
N_DOCS = 40


def synthetic_document(i: int, paragraphs: int = 30) -> Document:
    """A long document of made-up words, distinct per ``i`` (so no chunk near-duplicates)."""
    rng = random.Random(i)
    text = "\n\n".join(
        " ".join(f"w{rng.randrange(5000)}" for _ in range(90)) + "." for _ in range(paragraphs)
    )
    return Document(id=f"doc{i:03d}", text=text, title=f"Document {i}")


_CHILD = """
import sys
from index.pg_corpus import PostgresCorpusIndex
from tests.fakes import HashingEmbedder
from tests.test_postgres_durability import N_DOCS, synthetic_document

index = PostgresCorpusIndex.open(sys.argv[1], HashingEmbedder(dim=64))
for i in range(N_DOCS):
    index.add_documents([synthetic_document(i)])
"""


def _lock_holders(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
            (WRITE_LOCK,),
        ).fetchone()
        return int(row[0]) if row else 0


def _committed(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('documents')").fetchone() == (None,):
            return []
        return [r[0] for r in conn.execute("SELECT id FROM documents ORDER BY id").fetchall()]


def test_postgres_kill_9_mid_ingest_keeps_committed_documents_whole(postgres_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, postgres_url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 120
        # Wait until a few documents are in and the child is inside a write transaction.
        while time.monotonic() < deadline:
            if len(_committed(postgres_url)) >= 3 and _lock_holders(postgres_url):
                break
            assert child.poll() is None, "the ingest finished before it could be killed"
            time.sleep(0.005)
        else:
            pytest.fail("the child never got going")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    # The server rolls the dead client's transaction back once it notices the socket is gone.
    deadline = time.monotonic() + 30
    while _lock_holders(postgres_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    committed = _committed(postgres_url)
    assert 3 <= len(committed) < N_DOCS
    tokenizer = load_default_tokenizer()
    index = PostgresCorpusIndex.open(postgres_url, HashingEmbedder(dim=64))
    try:
        for doc_id in committed:
            doc = synthetic_document(int(doc_id[3:]))
            expected = chunk_new_documents(
                [doc], lambda _f: (), tokenizer, max_tokens=256, title_prefix=False
            )
            assert [c.id for c in index.chunks_for(doc_id)] == [c.id for c in expected]
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            stats = conn.execute("SELECT n_chunks, total_terms FROM corpus_stats").fetchone()
            assert stats is not None
            n_chunks, total_terms = stats
            assert conn.execute("SELECT count(*), sum(n_terms) FROM chunks").fetchone() == (
                n_chunks,
                total_terms,
            )
            wrong_df = conn.execute(
                "SELECT count(*) FROM terms t WHERE t.df <> (SELECT count(*) FROM chunks c "
                "WHERE c.terms @@ quote_literal(t.term)::tsquery)"
            ).fetchone()
            assert wrong_df == (0,)
        # Ingesting everything again skips what was committed and completes the rest.
        report = index.add_documents([synthetic_document(i) for i in range(N_DOCS)])
        assert report.unchanged == len(committed)
        assert index.n_documents == N_DOCS
    finally:
        index.close()


def _flip_versions() -> tuple[Document, Document]:
    a = "\n\n".join(f"alpha va paragraph {i} " + "filler " * 60 for i in range(12))
    b = "\n\n".join(f"alpha vb paragraph {i} " + "padding " * 60 for i in range(5))
    return Document(id="flip", text=a, title="Flip"), Document(id="flip", text=b, title="Flip")


def test_postgres_reader_never_sees_half_a_document_during_replaces(postgres_url: str) -> None:
    version_a, version_b = _flip_versions()
    writer = PostgresCorpusIndex.open(postgres_url, HashingEmbedder(dim=64))
    reader = PostgresCorpusIndex.open(postgres_url, HashingEmbedder(dim=64))
    try:
        writer.add_documents([version_b])
        n_b = len(writer.chunks_for("flip"))
        writer.add_documents([version_a])
        n_a = len(writer.chunks_for("flip"))
        assert n_a != n_b
        stop = threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                while not stop.is_set():
                    writer.add_documents([version_b])
                    writer.add_documents([version_a])
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        seen: set[str] = set()
        try:
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                hits = reader.search("alpha", top_k=50, mode="bm25", filters={"doc_id": "flip"})
                markers = {("va" if " va " in h.chunk.text else "vb") for h in hits}
                assert len(markers) == 1, "a search mixed two versions of one document"
                marker = markers.pop()
                assert len(hits) == (n_a if marker == "va" else n_b)
                seen.add(marker)
        finally:
            stop.set()
            thread.join(30)
        assert not errors
        assert seen == {"va", "vb"}  # the reader really did run while both versions were live
    finally:
        writer.close()
        reader.close()


def test_postgres_migrates_a_database_left_at_an_older_schema(postgres_url: str) -> None:
    embedder = HashingEmbedder(dim=64)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert migrate(conn, dim=64, model_name=embedder.model_name, target=1) == 1
        text = "Kim Jong Un and Vladimir Putin signed a mutual defense pact."
        conn.execute(
            "INSERT INTO documents (id, content_hash, text, title) VALUES ('old', 'h', %s, 'Old')",
            (text,),
        )
        terms = ["kim", "jong", "un", "and", "vladimir", "putin", "sign", "mutual", "defens"]
        conn.execute(
            "INSERT INTO chunks (id, doc_id, start_offset, end_offset, text, embedding, terms,"
            " n_terms) VALUES ('old-0', 'old', 0, %s, %s, %s::vector, %s::tsvector, %s)",
            (
                len(text),
                text,
                vector_literal(embedder.embed_query(text)),
                tsvector_literal(terms),
                len(terms),
            ),
        )
        conn.execute("INSERT INTO terms SELECT unnest(%s::text[]), 1", (terms,))
        conn.execute("UPDATE corpus_stats SET n_chunks = 1, total_terms = %s", (len(terms),))
        assert to_regclass(conn, "claimed_keys") is None
    index = PostgresCorpusIndex.open(postgres_url, embedder)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert schema_version(conn) == SCHEMA_VERSION
            assert to_regclass(conn, "claimed_keys") == "claimed_keys"
        assert index.search("mutual defense pact", top_k=1)[0].chunk.doc_id == "old"
        assert index.get_document("old").text.startswith("Kim Jong Un")
    finally:
        index.close()


def to_regclass(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute("SELECT to_regclass(%s)::text", (name,)).fetchone()
    return row[0] if row else None
