"""Store-level scale figures: the FAISS store at 100k-1M synthetic vectors against exact search.

Vectors are synthetic (clustered, L2-normalised), so the figures describe the store, not the
embedding model; ``citeqa bench --scale N`` reports them.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.stores.faiss_store import (
    HNSW_EF_SEARCH,
    HNSW_THRESHOLD,
    VECTORS_FILE,
    FaissStore,
    load_faiss,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleResult:
    """Figures from :func:`benchmark_scale` (times in ms unless named ``_s``)."""

    n: int
    dim: int
    kind: str
    build_s: float
    save_s: float
    load_ms: float
    file_mb: float
    p50_ms: float
    p95_ms: float
    exact_p50_ms: float
    recall_at_10: float
    ef_search: int
    # (efSearch, recall@k, p50 ms) for each value of ``ef_sweep``, measured on the same index.
    sweep: tuple[tuple[int, float, float], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def synthetic_vectors(n: int, dim: int, *, seed: int = 0, n_clusters: int = 1000) -> np.ndarray:
    """Unit vectors drawn around random centres, which is how text embeddings cluster.

    Uniform random vectors in 384 dims have no neighbourhood structure at all (every point is
    nearly equidistant), which says nothing about real corpora; a mixture is closer to them.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        which = rng.integers(0, n_clusters, stop - start)
        noise = rng.standard_normal((stop - start, dim)).astype(np.float32) * 0.06
        block = centres[which] + noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


def benchmark_scale(
    n: int,
    *,
    dim: int = 384,
    n_queries: int = 200,
    k: int = 10,
    ef_search: int = HNSW_EF_SEARCH,
    hnsw_threshold: int = HNSW_THRESHOLD,
    exact_queries: int = 30,
    search_threads: int = 1,
    seed: int = 0,
    workdir: Path | None = None,
    ef_sweep: Sequence[int] = (),
) -> ScaleResult:
    """Build a :class:`FaissStore` over ``n`` synthetic vectors and measure it.

    Reports build and save time, memory-mapped load time, single-query p50/p95 search latency,
    exact (brute-force) single-query p50 on the same vectors, and recall@k against exact search.
    Single queries are timed with ``search_threads`` OpenMP threads (1 avoids thread wake-up
    cost and tail latency for one query on a shared machine). Used by ``citeqa bench --scale N``.
    """
    faiss = load_faiss()
    build_threads = faiss.omp_get_max_threads()
    data = synthetic_vectors(n + n_queries, dim, seed=seed)
    base, queries = data[:n], data[n:]
    store = FaissStore(dim, hnsw_threshold=hnsw_threshold, ef_search=ef_search)
    started = time.perf_counter()
    store.add(np.arange(n, dtype=np.int64), base)
    build_s = time.perf_counter() - started

    # Ground truth: brute-force inner product over the raw array (same as IndexFlatIP).
    _, truth = faiss.knn(queries, base, k, metric=faiss.METRIC_INNER_PRODUCT)
    faiss.omp_set_num_threads(search_threads)
    exact_times = []
    for q in queries[:exact_queries]:
        t0 = time.perf_counter()
        faiss.knn(q.reshape(1, dim), base, k, metric=faiss.METRIC_INNER_PRODUCT)
        exact_times.append((time.perf_counter() - t0) * 1000)
    del base

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        store.save(folder)
        save_s = time.perf_counter() - t0
        file_mb = (folder / VECTORS_FILE).stat().st_size / 1e6
        kind = store.kind
        del store
        t0 = time.perf_counter()
        loaded = FaissStore.load(folder, mmap=True)
        load_ms = (time.perf_counter() - t0) * 1000
        logger.info(
            "built %s over %d vectors in %.1fs; mmap load %.1fms", kind, n, build_s, load_ms
        )
        p50_ms, p95_ms, recall = _measure(loaded, queries, truth, k)
        sweep = []
        for ef in ef_sweep:
            loaded.ef_search = ef
            ef_p50, _, ef_recall = _measure(loaded, queries, truth, k)
            sweep.append((ef, ef_recall, ef_p50))
            logger.info("efSearch=%d recall@%d=%.4f p50=%.3fms", ef, k, ef_recall, ef_p50)
        del loaded
    faiss.omp_set_num_threads(build_threads)
    return ScaleResult(
        n=n,
        dim=dim,
        kind=kind,
        build_s=round(build_s, 2),
        save_s=round(save_s, 2),
        load_ms=round(load_ms, 2),
        file_mb=round(file_mb, 1),
        p50_ms=p50_ms,
        p95_ms=p95_ms,
        exact_p50_ms=round(float(np.percentile(exact_times, 50)), 3),
        recall_at_10=recall,
        ef_search=ef_search,
        sweep=tuple(sweep),
    )


def _measure(
    store: FaissStore, queries: np.ndarray, truth: np.ndarray, k: int
) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, recall@k) of single-query searches against exact neighbours."""
    times: list[float] = []
    found = 0
    for qi, q in enumerate(queries):
        t0 = time.perf_counter()
        hits = store.search(q, k)
        times.append((time.perf_counter() - t0) * 1000)
        found += len({h[0] for h in hits} & set(truth[qi].tolist()))
    return (
        round(float(np.percentile(times, 50)), 3),
        round(float(np.percentile(times, 95)), 3),
        round(found / (k * len(queries)), 4),
    )
