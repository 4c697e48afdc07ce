"""Scale-out figures: the Postgres store at N synthetic chunks, and throughput with 1 and 2 workers.

Store level (``benchmark_pg_scale``): N chunks with synthetic vectors (the clustered ones of
:mod:`eval.bench.scale`) and synthetic keyword terms are bulk-loaded into a dedicated database,
the HNSW index built over them, then measured against exact search: dense search p50/p99 through
the store's own statement at several ``hnsw.ef_search``, recall@10, hybrid search p50, and adding
or deleting one document (10 chunks) through the store's transactional writes.

Serving (``benchmark_workers``): ``citeqa serve --workers W`` over the seeds on a backend,
``/search`` throughput at 1, 4 and 16 concurrent clients, for W = 1 and 2 in the same run.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.scale import synthetic_vectors

logger = logging.getLogger(__name__)

MODEL_NAME = "citeqa/synthetic-bench"
CHUNKS_PER_DOC = 10
_VOCABULARY = 50_000
_TERMS_PER_CHUNK = 40


def _terms(rng: np.random.Generator, n: int) -> list[list[str]]:
    """Zipf-distributed made-up terms, as word frequencies in text are."""
    ids = np.minimum(rng.zipf(1.3, size=(n, _TERMS_PER_CHUNK)), _VOCABULARY)
    return [[f"t{i}" for i in row] for row in ids.tolist()]


def _percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def _exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 50):
        scores = queries[start : start + 50] @ base.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start : start + 50] = np.take_along_axis(top, order, axis=1)
    return out


def _maintenance_mb(n: int, dim: int) -> int:
    """Memory for building HNSW in one pass: the graph (vectors plus ~M*2 neighbour ids each)
    must fit, or pgvector builds the rest far more slowly on disk."""
    return max(1024, int(n * (dim * 4 + 200) * 1.3 / 1e6))


def _bulk_load(store: Any, vectors: np.ndarray, terms: list[list[str]]) -> dict[str, float]:
    """Empty the tables, COPY every chunk in, then build the HNSW index (timed apart)."""
    from index.storage.pg_schema import HNSW_EF_CONSTRUCTION, HNSW_M
    from index.stores.postgres import tsvector_literal

    n, dim = vectors.shape
    fmt = "[" + ",".join(["%.7g"] * dim) + "]"
    with store.connection() as conn:
        conn.execute("TRUNCATE documents, chunks, terms RESTART IDENTITY CASCADE")
        conn.execute("UPDATE corpus_stats SET n_chunks = 0, total_terms = 0, version = 0")
        conn.execute("DROP INDEX IF EXISTS chunks_embedding")
        started = time.perf_counter()
        with conn.cursor().copy("COPY documents (id, content_hash, text, title) FROM STDIN") as cp:
            for d in range(0, n, CHUNKS_PER_DOC):
                cp.write_row((f"d{d // CHUNKS_PER_DOC}", "synthetic", "x" * 64, "synthetic"))
        with conn.cursor().copy(
            "COPY chunks (id, doc_id, start_offset, end_offset, text, embedding, terms, n_terms)"
            " FROM STDIN"
        ) as cp:
            for i in range(n):
                row_terms = terms[i]
                cp.write_row(
                    (
                        f"c{i}",
                        f"d{i // CHUNKS_PER_DOC}",
                        0,
                        64,
                        " ".join(row_terms),
                        fmt % tuple(vectors[i].tolist()),
                        tsvector_literal(row_terms),
                        len(row_terms),
                    )
                )
        conn.execute(
            """INSERT INTO terms (term, df) SELECT lexeme, count(*)
            FROM chunks, unnest(tsvector_to_array(terms)) lexeme GROUP BY lexeme"""
        )
        conn.execute(
            "UPDATE corpus_stats SET n_chunks = %s, total_terms = %s, version = 1",
            (n, sum(len(t) for t in terms)),
        )
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(f"SET maintenance_work_mem = '{_maintenance_mb(n, dim)}MB'")
        conn.execute(
            f"""CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_ip_ops)
            WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"""
        )
        conn.execute("VACUUM ANALYZE chunks")
        build_s = time.perf_counter() - started
    return {"load_s": round(load_s, 2), "hnsw_build_s": round(build_s, 2)}


def benchmark_pg_scale(
    url: str,
    n: int,
    *,
    dim: int = 384,
    n_queries: int = 200,
    k: int = 10,
    ef_values: Sequence[int] = (40, 100, 200, 400),
    seed: int = 0,
) -> dict[str, Any]:
    """Store-level figures of the Postgres backend at ``n`` synthetic chunks (see module doc)."""
    from index.models import Chunk, Document
    from index.stores.postgres import ChunkRow, PostgresStore

    rng = np.random.default_rng(seed)
    data = synthetic_vectors(n + n_queries + 5 * CHUNKS_PER_DOC, dim, seed=seed)
    base, queries, extra = data[:n], data[n : n + n_queries], data[n + n_queries :]
    terms = _terms(rng, n)
    store = PostgresStore(url, dim=dim, model_name=MODEL_NAME, max_connections=2)
    out: dict[str, Any] = {"n": n, "dim": dim, "vectors": "synthetic (clustered)"}
    try:
        out.update(_bulk_load(store, base, terms))
        out["load_chunks_per_s"] = round(n / out["load_s"], 1)
        truth = _exact_top(base, queries, k)
        del base
        sweep = []
        for ef in ef_values:
            with store.connection() as conn:
                conn.execute(f"SET hnsw.ef_search = {int(ef)}")
                times, found = [], 0
                for qi, q in enumerate(queries):
                    t0 = time.perf_counter()
                    lists = _dense(conn, q, k)
                    times.append((time.perf_counter() - t0) * 1000)
                    found += len({r - 1 for r in lists} & set(truth[qi].tolist()))
                conn.execute(f"SET hnsw.ef_search = {int(store.ef_search)}")  # the pool's own
            sweep.append(
                {
                    "ef_search": ef,
                    "recall@10": round(found / (k * len(queries)), 4),
                    "p50_ms": _percentile(times, 50),
                    "p99_ms": _percentile(times, 99),
                }
            )
            logger.info("ef_search=%d %s", ef, sweep[-1])
        out["dense_sweep"] = sweep
        # Through the store's own one-statement search, as the service calls it (pool default).
        out["service_ef_search"] = store.ef_search
        times = []
        words = [[f"t{int(i)}" for i in rng.integers(1, 2000, 3)] for _ in queries]
        for q, w in zip(queries, words, strict=True):
            t0 = time.perf_counter()
            store.search_lists(q, w, 30)
            times.append((time.perf_counter() - t0) * 1000)
        out["hybrid_lists_p50_ms"] = _percentile(times, 50)
        out["hybrid_lists_p99_ms"] = _percentile(times, 99)
        with store.connection() as conn:
            conn.execute("SET enable_indexscan = off")
            exact = []
            for q in queries[:10]:
                t0 = time.perf_counter()
                _dense(conn, q, k)
                exact.append((time.perf_counter() - t0) * 1000)
            conn.execute("RESET enable_indexscan")
        out["exact_sql_p50_ms"] = _percentile(exact, 50)
        adds, deletes = [], []
        for j in range(5):
            doc = Document(id=f"bench-doc-{j}", text="y" * 64, title="bench")
            rows = [
                ChunkRow(
                    Chunk(id=f"bench-{j}-{c}", doc_id=doc.id, start=0, end=64, text="y" * 64),
                    extra[j * CHUNKS_PER_DOC + c],
                    _terms(rng, 1)[0],
                )
                for c in range(CHUNKS_PER_DOC)
            ]
            t0 = time.perf_counter()
            store.write_document(doc, f"h{j}", rows)
            adds.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            store.delete_document(doc.id)
            deletes.append(time.perf_counter() - t0)
        out["add_one_doc_s"] = {"median": round(statistics.median(adds), 4), "max": max(adds)}
        out["delete_one_doc_s"] = {
            "median": round(statistics.median(deletes), 4),
            "max": max(deletes),
        }
    finally:
        store.close()
    return out


def _dense(conn: Any, vector: np.ndarray, k: int) -> list[int]:
    from index.stores.postgres import vector_literal

    rows = conn.execute(
        "SELECT row_id FROM chunks ORDER BY embedding <#> %s::vector LIMIT %s",
        (vector_literal(vector), k),
    ).fetchall()
    return [int(r[0]) for r in rows]


def benchmark_workers(
    seeds: Path,
    questions: Sequence[str],
    *,
    database_url: str | None,
    clients: Sequence[int] = (1, 4, 16),
    requests: int = 400,
    warmup: int = 200,
    workdir: Path,
) -> dict[str, Any]:
    """``/search`` requests per second at each client count, with 1 and 2 worker processes."""
    from eval.bench.server import serve_process, throughput

    env = {"CITEQA_DATABASE_URL": database_url} if database_url else {}
    env["CITEQA_SEEDS_DIR"] = str(seeds)
    out: dict[str, Any] = {"backend": "postgres" if database_url else "embedded"}
    for workers in (1, 2):
        with serve_process(workdir / "index", env=env, workers=workers) as served:
            # Warm every worker (16 connections spread over them) on the questions to come.
            throughput(served.base_url, questions, 16, warmup)
            for c in clients:
                rps, errors = throughput(served.base_url, questions, c, requests)
                out[f"w{workers}_c{c}_rps"] = round(rps, 1)
                out[f"w{workers}_c{c}_errors"] = errors
    top = max(clients)
    if out.get(f"w1_c{top}_rps"):
        out[f"speedup_2w_over_1w_at_{top}"] = round(
            out[f"w2_c{top}_rps"] / out[f"w1_c{top}_rps"], 3
        )
    return out
