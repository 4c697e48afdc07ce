"""FaissStore: stable ids across deletes, flat->HNSW switch, tombstones, compaction, mmap load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.bench.scale import benchmark_scale, synthetic_vectors
from index.stores.faiss_store import FaissStore

DIM = 16


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return synthetic_vectors(n, DIM, seed=seed, n_clusters=8)


def test_flat_search_returns_ids_and_is_exact() -> None:
    x = _vectors(50)
    store = FaissStore(DIM)
    ids = np.arange(1000, 1050, dtype=np.int64)
    store.add(ids, x)
    hits = store.search(x[7], 5)
    assert hits[0][0] == 1007
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert store.kind == "flat"
    assert len(store) == 50


def test_ids_stay_stable_across_deletes() -> None:
    x = _vectors(30)
    store = FaissStore(DIM)
    store.add(np.arange(30, dtype=np.int64) * 10, x)
    store.remove([0, 50, 120])
    assert len(store) == 27
    hits = store.search(x[20], 1)
    assert [i for i, _ in hits] == [200]
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert all(i not in (0, 50, 120) for i, _ in store.search(x[5], 30))
    np.testing.assert_allclose(store.vector(290), x[29], atol=1e-6)


def test_switches_to_hnsw_at_threshold_and_uses_tombstones() -> None:
    x = _vectors(120)
    store = FaissStore(DIM, hnsw_threshold=100, compact_ratio=0.5)
    store.add(np.arange(60, dtype=np.int64), x[:60])
    assert store.kind == "flat"
    store.add(np.arange(60, 120, dtype=np.int64), x[60:])
    assert store.kind == "hnsw"
    assert len(store) == 120
    store.remove([3, 4, 5])
    assert store.n_tombstones == 3
    assert len(store) == 117
    hits = store.search(x[3], 10)
    assert len(hits) == 10
    assert all(i not in (3, 4, 5) for i, _ in hits)
    assert store.search(x[90], 1)[0][0] == 90
    assert [i for i, _ in store.search(x[3], 2, allowed=[3, 70])] == [70]  # tombstone excluded


def test_compaction_when_tombstones_exceed_ratio() -> None:
    x = _vectors(120)
    store = FaissStore(DIM, hnsw_threshold=50, compact_ratio=0.2)
    store.add(np.arange(120, dtype=np.int64), x)
    store.remove(range(20))
    assert store.n_tombstones == 20  # 20 / 120 < 0.2: not yet
    store.remove(range(20, 30))
    assert store.n_tombstones == 0
    assert len(store) == 90
    assert store.kind == "hnsw"
    assert store.search(x[50], 1)[0][0] == 50
    store.remove(range(30, 80))  # 40 live < threshold: compaction drops back to exact search
    assert store.kind == "flat"
    assert len(store) == 40


def test_subset_search_is_exact_over_allowed_ids() -> None:
    x = _vectors(40)
    store = FaissStore(DIM)
    store.add(np.arange(40, dtype=np.int64), x)
    hits = store.search(x[0], 3, allowed=[10, 11, 12, 13])
    assert {i for i, _ in hits} <= {10, 11, 12, 13}
    assert len(hits) == 3
    expected = sorted(((i, float(x[i] @ x[0])) for i in (10, 11, 12, 13)), key=lambda t: -t[1])
    assert [i for i, _ in hits] == [i for i, _ in expected[:3]]
    assert store.search(x[0], 3, allowed=[]) == []


@pytest.mark.parametrize("threshold", [1000, 10])
def test_save_and_mmap_load_then_write(tmp_path: Path, threshold: int) -> None:
    x = _vectors(60)
    store = FaissStore(DIM, hnsw_threshold=threshold)
    store.add(np.arange(50, dtype=np.int64), x[:50])
    store.remove([1])
    store.save(tmp_path)
    loaded = FaissStore.load(tmp_path, mmap=True)
    assert loaded.kind == store.kind
    assert len(loaded) == 49
    assert loaded.search(x[7], 1)[0][0] == 7
    assert 1 not in {i for i, _ in loaded.search(x[1], 5)}
    # A memory-mapped index is read-only: the first write must copy it into memory first.
    loaded.add(np.arange(50, 60, dtype=np.int64), x[50:])
    loaded.remove([7])
    assert len(loaded) == 58
    assert loaded.search(x[55], 1)[0][0] == 55


def test_empty_store_searches_empty() -> None:
    store = FaissStore(DIM)
    assert store.search(np.ones(DIM, dtype=np.float32), 5) == []
    store.remove([1, 2])
    assert len(store) == 0


def test_benchmark_scale_small(tmp_path: Path) -> None:
    result = benchmark_scale(3000, dim=32, n_queries=20, hnsw_threshold=1000, workdir=tmp_path)
    assert result.kind == "hnsw"
    assert result.n == 3000
    assert result.recall_at_10 >= 0.9
    assert result.p50_ms > 0
    assert result.load_ms >= 0


@pytest.mark.slow
def test_hnsw_recall_at_100k(tmp_path: Path) -> None:
    result = benchmark_scale(100_000, n_queries=100, exact_queries=5, workdir=tmp_path)
    assert result.kind == "hnsw"
    assert result.recall_at_10 >= 0.95, result


@pytest.mark.parametrize("threshold", [1000, 10])
def test_adds_go_to_the_delta_until_it_is_merged(threshold: int) -> None:
    x = _vectors(70)
    store = FaissStore(DIM, hnsw_threshold=threshold, delta_max=8)
    store.add(np.arange(40, dtype=np.int64), x[:40])
    assert store.n_delta == 0  # a batch past delta_max goes straight into the base
    store.add(np.arange(40, 45, dtype=np.int64), x[40:45])
    assert store.n_delta == 5
    assert store.search(x[42], 1)[0][0] == 42
    store.remove([41, 3])
    assert store.n_delta == 4
    assert store.n_tombstones == 1
    assert {i for i, _ in store.search(x[41], 70)} == set(range(45)) - {3, 41}
    store.add(np.arange(45, 50, dtype=np.int64), x[45:50])
    assert store.n_delta == 0  # 9 >= delta_max: merged into the base
    assert len(store) == 48
    assert store.search(x[47], 1)[0][0] == 47
    assert [i for i, _ in store.search(x[0], 2, allowed=[44, 3])] == [44]


def test_save_links_an_unchanged_base(tmp_path: Path) -> None:
    x = _vectors(60)
    store = FaissStore(DIM, hnsw_threshold=20)
    store.add(np.arange(50, dtype=np.int64), x[:50])
    store.save(tmp_path / "a")
    loaded = FaissStore.load(tmp_path / "a", mmap=True)
    loaded.add(np.arange(50, 52, dtype=np.int64), x[50:52])
    loaded.remove([5])
    loaded.save(tmp_path / "b")
    base_a, base_b = (tmp_path / d / "vectors.faiss" for d in ("a", "b"))
    assert base_a.stat().st_ino == base_b.stat().st_ino
    again = FaissStore.load(tmp_path / "b", mmap=True)
    assert (len(again), again.n_delta, again.n_tombstones) == (51, 2, 1)
    assert again.search(x[51], 1)[0][0] == 51
    assert 5 not in {i for i, _ in again.search(x[5], 10)}
