"""The PostgreSQL schema of citeqa, as numbered migrations the service applies itself.

``migrate(conn, dim)`` brings a database to :data:`SCHEMA_VERSION` inside one transaction, under
an advisory lock so two workers starting together do not both migrate. The version reached is
kept in ``citeqa_meta``; each migration runs once, in order, and is never edited once released
(a change is a new migration).

Tables::

    documents    one row per document, with the hash of its content (re-ingest is a no-op)
    chunks       one row per chunk: offsets into its document, text, vector (HNSW) and
                 keyword terms (tsvector, GIN), plus its length in terms for BM25
    terms        document frequency of every keyword term (for BM25's IDF)
    corpus_stats one row: chunk count, total terms, and the version every write bumps
    claimed_keys unique keys with an expiry, shared by every worker (Slack event ids)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from index.errors import IndexMismatchError

logger = logging.getLogger(__name__)

# Any constant will do, as long as nothing else in the database uses it.
MIGRATION_LOCK = 7_117_001
WRITE_LOCK = 7_117_002
# At 1M clustered synthetic vectors m 16 / ef_construction 64 levelled off near recall@10 0.93;
# m 32 / 128 reached 1.0 at ef_search 200 (README, "Scaling out").
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 128


def _v1(dim: int) -> list[str]:
    return [
        "CREATE EXTENSION IF NOT EXISTS vector",
        "CREATE TABLE citeqa_meta (key text PRIMARY KEY, value text NOT NULL)",
        """CREATE TABLE documents (
            id text PRIMARY KEY,
            content_hash text NOT NULL,
            text text NOT NULL,
            title text NOT NULL,
            source text NOT NULL DEFAULT '',
            published_at text,
            format text NOT NULL DEFAULT 'text',
            layout jsonb NOT NULL DEFAULT '{}'::jsonb,
            updated_at timestamptz NOT NULL DEFAULT now())""",
        f"""CREATE TABLE chunks (
            row_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            doc_id text NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            start_offset integer NOT NULL,
            end_offset integer NOT NULL,
            text text NOT NULL,
            title text NOT NULL DEFAULT '',
            n_tokens integer NOT NULL DEFAULT 0,
            page integer,
            page_end integer,
            section text NOT NULL DEFAULT '',
            embedding vector({int(dim)}) NOT NULL,
            terms tsvector NOT NULL,
            n_terms integer NOT NULL,
            CHECK (start_offset >= 0 AND end_offset > start_offset))""",
        "CREATE INDEX chunks_doc_id ON chunks (doc_id, start_offset)",
        "CREATE INDEX chunks_terms ON chunks USING gin (terms)",
        f"""CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_ip_ops)
            WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})""",
        "CREATE TABLE terms (term text PRIMARY KEY, df integer NOT NULL CHECK (df >= 0))",
        """CREATE TABLE corpus_stats (
            id integer PRIMARY KEY CHECK (id = 1),
            n_chunks bigint NOT NULL,
            total_terms bigint NOT NULL,
            version bigint NOT NULL)""",
        "INSERT INTO corpus_stats VALUES (1, 0, 0, 0)",
    ]


def _v2(dim: int) -> list[str]:
    del dim
    return [
        """CREATE TABLE claimed_keys (
            namespace text NOT NULL,
            key text NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (namespace, key))""",
        "CREATE INDEX claimed_keys_expiry ON claimed_keys (expires_at)",
    ]


# Migration n (1-based) is MIGRATIONS[n - 1].
MIGRATIONS: tuple[Callable[[int], list[str]], ...] = (_v1, _v2)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: Any) -> int:
    """The version the database is at (0 for an empty database)."""
    exists = conn.execute("SELECT to_regclass('citeqa_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM citeqa_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: Any, *, dim: int, model_name: str, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target`` in one transaction; returns the version.

    The first migration records the embedding model and dimension; a database made for another
    model is refused (its vectors would be meaningless to this one).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        current = schema_version(conn)
        for number in range(current + 1, target + 1):
            logger.info("applying citeqa schema migration %d", number)
            for statement in MIGRATIONS[number - 1](dim):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO citeqa_meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(number),),
            )
            if number == 1:
                conn.execute(
                    "INSERT INTO citeqa_meta VALUES ('model_name', %s), ('dim', %s)",
                    (model_name, str(dim)),
                )
        meta = dict(conn.execute("SELECT key, value FROM citeqa_meta").fetchall())
    if meta.get("model_name") != model_name or int(meta.get("dim", -1)) != dim:
        raise IndexMismatchError(
            f"the database was built for model {meta.get('model_name')!r} with dimension "
            f"{meta.get('dim')}, not {model_name!r} ({dim}); use another database or drop its "
            "citeqa tables and ingest again"
        )
    return max(current, target)
