"""PostgreSQL + pgvector store: documents, chunks, vectors and keyword terms in one database.

The vector side is an HNSW index (``vector_ip_ops``: unit vectors, so inner product is cosine);
the keyword side is a ``tsvector`` of the same terms the embedded BM25 store indexes (the
project's tokenizer, not Postgres's parser), behind a GIN index, scored with the same BM25 (Lucene
variant, k1 1.2, b 0.75) from a ``terms`` table of document frequencies kept in step by every
write. :meth:`PostgresStore.search_lists` fetches both ranked lists, the query terms' IDF inputs and
the corpus version in one SQL statement (one round trip, one snapshot); the caller fuses them
(:func:`index.retrieval.fusion.fuse_lists`), exactly as the embedded backend does.

Writes (:meth:`PostgresStore.write_document`, :meth:`PostgresStore.delete_document`) are one
transaction each, serialised across processes by an advisory lock; a document whose content hash
is unchanged is left alone.

Example::

    store = PostgresStore("postgresql://localhost/citeqa", dim=384, model_name="all-MiniLM-L6-v2")
    lists = store.search_lists(vector, ["mutual", "defens", "pact"], depth=30)
"""

# SQL text here is assembled from this module's constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.errors import IndexStoreError
from index.models import Chunk, Document
from index.storage.generations import _document_from_json, _document_to_json
from index.storage.pg_schema import WRITE_LOCK, migrate

logger = logging.getLogger(__name__)

# Measured with `citeqa bench --scale` (see README, "Scaling out"): the recall/latency trade-off.
HNSW_EF_SEARCH = 200
BM25_K1 = 1.2
BM25_B = 0.75
_CHUNK_COLUMNS = (
    "c.row_id, c.id, c.doc_id, c.start_offset, c.end_offset, c.text, c.title, c.n_tokens, "
    "c.page, c.page_end, c.section"
)
# Typed NULLs for the chunk columns (after row_id) in the rows that carry no chunk: a UNION
# resolves column types branch by branch, and a bare NULL would become text.
_CHUNK_NULLS = (
    "NULL::text",
    "NULL::text",
    "NULL::int",
    "NULL::int",
    "NULL::text",
    "NULL::text",
    "NULL::int",
    "NULL::int",
    "NULL::int",
    "NULL::text",
)


@dataclass(frozen=True)
class SearchLists:
    """What one search statement returns: both ranked lists and what IDF and the cache need."""

    dense: list[tuple[int, float]]
    keyword: list[tuple[int, float]]
    chunks: dict[int, Chunk]
    document_frequency: dict[str, int]
    n_chunks: int
    version: int


@dataclass(frozen=True)
class ChunkRow:
    """A chunk ready to write: the chunk, its vector and its keyword terms (with repeats)."""

    chunk: Chunk
    vector: np.ndarray
    terms: list[str] = field(default_factory=list)


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector (float32 round-trips through 9 significant digits)."""
    return "[" + ",".join(f"{x:.9g}" for x in np.asarray(vector, dtype=np.float32).tolist()) + "]"


def _quote_lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(terms: Sequence[str]) -> str:
    """A ``tsvector`` holding exactly ``terms`` (positions give each term's frequency)."""
    positions: dict[str, list[int]] = {}
    for pos, term in enumerate(terms, start=1):
        # Postgres keeps at most 256 positions per lexeme and positions up to 16383.
        positions.setdefault(term, []).append(min(pos, 16383))
    return " ".join(
        f"{_quote_lexeme(t)}:{','.join(str(p) for p in sorted(set(ps))[:256])}"
        for t, ps in positions.items()
    )


def tsquery_literal(terms: Sequence[str]) -> str:
    """``'a' | 'b' | ...``: a chunk matches when it holds any query term."""
    return " | ".join(_quote_lexeme(t) for t in dict.fromkeys(terms))


def bm25_idf(n_chunks: int, df: int) -> float:
    """BM25's IDF (Lucene variant, as bm25s computes it)."""
    return math.log(1.0 + (n_chunks - df + 0.5) / (df + 0.5))


class PostgresStore:
    """Documents, chunks, vectors and keyword terms in PostgreSQL (see module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        dim: int,
        model_name: str,
        min_connections: int = 1,
        max_connections: int = 8,
        ef_search: int = HNSW_EF_SEARCH,
    ) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.dim = dim
        self.ef_search = ef_search
        self._psycopg = psycopg

        def configure(conn: Any) -> None:
            conn.execute(f"SET hnsw.ef_search = {int(self.ef_search)}")
            # A filtered search (doc_id, title) keeps scanning the graph until it has k rows.
            conn.execute("SET hnsw.iterative_scan = strict_order")

        try:
            self.pool = ConnectionPool(
                url,
                min_size=min_connections,
                max_size=max_connections,
                kwargs={"autocommit": True},
                configure=configure,
                open=True,
                timeout=30,
            )
            with self.pool.connection() as conn:
                migrate(conn, dim=dim, model_name=model_name)
        except psycopg.Error as exc:
            raise IndexStoreError(f"cannot use the database at {_redact(url)}: {exc}") from exc

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection (autocommit: one statement, one snapshot)."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except self._psycopg.Error as exc:
            raise IndexStoreError(f"database error: {exc}") from exc

    # -- reads --------------------------------------------------------------------------------

    def version(self) -> int:
        with self.connection() as conn:
            return int(conn.execute("SELECT version FROM corpus_stats").fetchone()[0])

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        with self.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM documents), n_chunks FROM corpus_stats"
            ).fetchone()
            return int(row[0]), int(row[1])

    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id, text, title, source, published_at, format, layout, content_hash "
                "FROM documents WHERE id = ANY(%s)",
                (list(ids),),
            ).fetchall()
        return {r[0]: _row_document(r) for r in rows}

    def list_documents(self) -> list[Document]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id, text, title, source, published_at, format, layout, content_hash "
                "FROM documents ORDER BY id"
            ).fetchall()
        return [_row_document(r) for r in rows]

    def document_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id, content_hash FROM documents WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def document_ids(self) -> list[str]:
        with self.connection() as conn:
            return [r[0] for r in conn.execute("SELECT id FROM documents").fetchall()]

    def chunks_for(self, doc_id: str) -> list[Chunk]:
        with self.connection() as conn:
            rows = conn.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks c WHERE c.doc_id = %s "
                "ORDER BY c.start_offset, c.end_offset",
                (doc_id,),
            ).fetchall()
        return [_row_chunk(r[1:]) for r in rows]

    def neighbour_chunks(
        self, vectors: np.ndarray, exclude_docs: Sequence[str], *, k: int = 8, min_score: float
    ) -> list[Chunk]:
        """Chunks of other documents among the ``k`` nearest of each vector, at ``min_score``
        or above: the candidates a new chunk may near-duplicate."""
        if not len(vectors):
            return []
        with self.connection() as conn:
            rows = conn.execute(
                f"""SELECT DISTINCT {_CHUNK_COLUMNS.replace("c.", "n.")}
                FROM unnest(%(vectors)s::text[]) AS q(v)
                CROSS JOIN LATERAL (
                    SELECT c.*, -(c.embedding <#> q.v::vector) AS score FROM chunks c
                    WHERE c.doc_id <> ALL(%(exclude)s)
                    ORDER BY c.embedding <#> q.v::vector LIMIT %(k)s) n
                WHERE n.score >= %(min_score)s""",
                {
                    "vectors": [vector_literal(v) for v in vectors],
                    "exclude": list(exclude_docs),
                    "k": k,
                    "min_score": min_score,
                },
            ).fetchall()
        return [_row_chunk(r[1:]) for r in rows]

    def search_lists(
        self,
        vector: np.ndarray | None,
        terms: Sequence[str],
        depth: int,
        *,
        doc_ids: Sequence[str] | None = None,
        title_contains: str | None = None,
    ) -> SearchLists:
        """The dense top ``depth`` (HNSW) and the BM25 top ``depth`` (GIN) in one statement."""
        where = ["TRUE"]
        with_clause = ""
        params: dict[str, Any] = {"depth": depth, "k1": BM25_K1, "b": BM25_B}
        if doc_ids is not None:
            where.append("c.doc_id = ANY(%(doc_ids)s)")
            params["doc_ids"] = list(doc_ids)
        if title_contains is not None:
            where.append("strpos(lower(c.title), lower(%(title)s)) > 0")
            params["title"] = title_contains
        filters = " AND ".join(where)
        parts = [
            "SELECT 's' AS list, n_chunks AS row_id, version::float8 AS score, "
            + ", ".join(_CHUNK_NULLS)
            + " FROM corpus_stats"
        ]
        if terms:
            params["terms"] = list(terms)
            params["tsquery"] = tsquery_literal(terms)
            parts.append(
                "SELECT 't', df, NULL, term, " + ", ".join(_CHUNK_NULLS[1:]) + " FROM terms "
                "WHERE term = ANY(%(terms)s)"
            )
            # BM25 over the candidates the GIN index finds: each query term's weight (repeats x
            # IDF) once, then per candidate only its query lexemes are unnested (setweight marks
            # them, ts_filter keeps them) and scored; chunk columns are joined to the winners.
            with_clause = """WITH s AS (SELECT n_chunks::float8 AS n,
                    greatest(total_terms, 1)::float8 / greatest(n_chunks, 1) AS avgdl
                    FROM corpus_stats),
                q AS (SELECT u.term, count(*) * ln(1 + (s.n - t.df + 0.5) / (t.df + 0.5)) AS w
                    FROM unnest(%(terms)s::text[]) u(term) JOIN terms t ON t.term = u.term, s
                    GROUP BY u.term, t.df, s.n)
                """
            parts.append(
                f"""SELECT 'k', k.row_id, k.score,
                    {_CHUNK_COLUMNS.replace("c.row_id, ", "")}
                FROM (SELECT c.row_id,
                        sum(q.w * u.tf
                            / (u.tf + %(k1)s * (1 - %(b)s + %(b)s * c.n_terms / s.avgdl))) AS score
                    FROM chunks c
                    CROSS JOIN LATERAL (SELECT lexeme, cardinality(positions) AS tf
                        FROM unnest(ts_filter(setweight(c.terms, 'A', %(terms)s), '{{a}}'))) u
                    JOIN q ON q.term = u.lexeme
                    CROSS JOIN s
                    WHERE c.terms @@ %(tsquery)s::tsquery AND {filters}
                    GROUP BY c.row_id
                    ORDER BY score DESC, c.row_id LIMIT %(depth)s) k
                JOIN chunks c ON c.row_id = k.row_id"""
            )
        if vector is not None:
            # The query vector is a bound parameter right in ORDER BY, so the planner uses the
            # HNSW index (hiding it in a CTE made this ~15x slower).
            params["vector"] = vector_literal(vector)
            parts.append(
                f"""SELECT * FROM (SELECT 'd', c.row_id,
                    -(c.embedding <#> %(vector)s::vector) AS score,
                    {_CHUNK_COLUMNS.replace("c.row_id, ", "")}
                FROM chunks c WHERE {filters}
                ORDER BY c.embedding <#> %(vector)s::vector LIMIT %(depth)s) d"""
            )
        sql = with_clause + "\nUNION ALL\n".join(f"({p})" for p in parts)
        with self.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        dense: list[tuple[int, float]] = []
        keyword: list[tuple[int, float]] = []
        chunks: dict[int, Chunk] = {}
        dfs: dict[str, int] = {}
        n_chunks = version = 0
        for row in rows:
            kind = row[0]
            if kind == "s":
                n_chunks, version = int(row[1]), int(row[2])
            elif kind == "t":
                dfs[row[3]] = int(row[1])
            else:
                (dense if kind == "d" else keyword).append((int(row[1]), float(row[2])))
                chunks[int(row[1])] = _row_chunk(row[3:])
        # Joins and UNION ALL keep no order: rank again (ties by row id, as bm25s ranks them).
        dense.sort(key=lambda item: (-item[1], item[0]))
        keyword.sort(key=lambda item: (-item[1], item[0]))
        return SearchLists(dense, keyword, chunks, dfs, n_chunks, version)

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT term, df FROM terms WHERE term = ANY(%s)", (list(terms),)
            ).fetchall()
            n = int(conn.execute("SELECT n_chunks FROM corpus_stats").fetchone()[0])
        return {r[0]: int(r[1]) for r in rows}, n

    # -- writes -------------------------------------------------------------------------------

    def write_document(self, doc: Document, content_hash: str, rows: Sequence[ChunkRow]) -> bool:
        """Insert or replace ``doc`` with its chunks in one transaction; False if unchanged."""
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            found = conn.execute(
                "SELECT content_hash FROM documents WHERE id = %s", (doc.id,)
            ).fetchone()
            if found is not None and found[0] == content_hash:
                return False
            if found is not None:
                _delete_chunks(conn, doc.id)
            record = _document_to_json(doc)
            layout = {k: record[k] for k in ("boilerplate", "pages", "sections", "content_hash")}
            conn.execute(
                """INSERT INTO documents (id, content_hash, text, title, source, published_at,
                    format, layout, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
                ON CONFLICT (id) DO UPDATE SET content_hash = excluded.content_hash,
                    text = excluded.text, title = excluded.title, source = excluded.source,
                    published_at = excluded.published_at, format = excluded.format,
                    layout = excluded.layout, updated_at = now()""",
                (
                    doc.id,
                    content_hash,
                    doc.text,
                    doc.title,
                    doc.source,
                    doc.published_at,
                    doc.format,
                    json.dumps(layout),
                ),
            )
            with conn.cursor().copy(
                "COPY chunks (id, doc_id, start_offset, end_offset, text, title, n_tokens, page,"
                " page_end, section, embedding, terms, n_terms) FROM STDIN"
            ) as copy:
                for row in rows:
                    c = row.chunk
                    copy.write_row(
                        (
                            c.id,
                            c.doc_id,
                            c.start,
                            c.end,
                            c.text,
                            c.title,
                            c.n_tokens,
                            c.page,
                            c.page_end,
                            c.section,
                            vector_literal(row.vector),
                            tsvector_literal(row.terms),
                            len(row.terms),
                        )
                    )
            distinct = [t for row in rows for t in dict.fromkeys(row.terms)]
            conn.execute(
                """INSERT INTO terms (term, df)
                SELECT term, count(*) FROM unnest(%s::text[]) term GROUP BY term
                ON CONFLICT (term) DO UPDATE SET df = terms.df + excluded.df""",
                (distinct,),
            )
            conn.execute(
                "UPDATE corpus_stats SET n_chunks = n_chunks + %s, "
                "total_terms = total_terms + %s, version = version + 1",
                (len(rows), sum(len(r.terms) for r in rows)),
            )
        return True

    def delete_document(self, doc_id: str) -> bool:
        """Remove ``doc_id`` and its chunks in one transaction; False if it was not there."""
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            _delete_chunks(conn, doc_id)
            gone = conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,)).rowcount
            conn.execute("UPDATE corpus_stats SET version = version + 1")
        return bool(gone)


def _delete_chunks(conn: Any, doc_id: str) -> None:
    """Delete a document's chunks and take their terms out of the frequencies and totals."""
    conn.execute(
        """WITH gone AS (DELETE FROM chunks WHERE doc_id = %(doc)s RETURNING terms, n_terms),
            dec AS (SELECT lexeme AS term, count(*) AS n
                    FROM gone, unnest(tsvector_to_array(gone.terms)) lexeme GROUP BY lexeme),
            upd AS (UPDATE terms t SET df = t.df - dec.n FROM dec WHERE t.term = dec.term)
        UPDATE corpus_stats SET n_chunks = n_chunks - (SELECT count(*) FROM gone),
            total_terms = total_terms - (SELECT coalesce(sum(n_terms), 0) FROM gone)""",
        {"doc": doc_id},
    )


def _row_document(row: Sequence[Any]) -> Document:
    layout: Mapping[str, Any] = row[6] or {}
    return _document_from_json(
        {
            "id": row[0],
            "text": row[1],
            "title": row[2],
            "source": row[3],
            "published_at": row[4],
            "format": row[5],
            **layout,
        }
    )


def _row_chunk(row: Sequence[Any]) -> Chunk:
    return Chunk(
        id=row[0],
        doc_id=row[1],
        start=int(row[2]),
        end=int(row[3]),
        text=row[4],
        title=row[5],
        n_tokens=int(row[6]),
        page=row[7],
        page_end=row[8],
        section=row[9],
    )


def _redact(url: str) -> str:
    """``url`` without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
