"""Dense vector store on FAISS with stable int64 ids; exact search when small, HNSW when large.

Ids are chosen by the caller and never reused, so they stay valid across deletes.

* ``flat``: ``IndexIDMap2(IndexFlatIP)``: exact inner product; deletes are ``remove_ids``.
* ``hnsw``: ``IndexIDMap2(IndexHNSWFlat(M=32))``: HNSW cannot remove points, so a delete records
  a tombstone that searches filter out (over-fetching to keep ``k`` results); once tombstones
  exceed ``compact_ratio`` of the index it is rebuilt from its live vectors.

The store switches from flat to HNSW when its live size reaches ``hnsw_threshold``; the choice is
recorded in the index manifest (``vector_index``). Saved indexes load through a memory map
(``IO_FLAG_MMAP_IFC``): loading is near-instant and pages come in on demand. A mapped index is
read-only, so the first write re-reads it into memory.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from index.errors import IndexCorruptError
from index.storage.atomic import atomic_write_text, fsync_file

logger = logging.getLogger(__name__)

# Below this many live vectors exact search is fast enough (measured: ~5 ms p50 per query at 50k,
# 384 dims, 2 cores) and has perfect recall; above it HNSW keeps queries in the low milliseconds.
HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# Measured with benchmark_scale(1_000_000) (clustered synthetic vectors, 2 shared cores):
# efSearch 96 -> recall@10 0.872, 256 -> 0.942, 384 -> 0.956 at 0.87 ms p50 (exact: 132 ms).
# At 100k, 64 already gives 1.0; 384 costs well under a millisecond there too.
HNSW_EF_SEARCH = 384
COMPACT_RATIO = 0.2
_ADD_BATCH = 20_000

IndexKind = Literal["flat", "hnsw"]
VECTORS_FILE = "vectors.faiss"
TOMBSTONES_FILE = "tombstones.npy"
STORE_META_FILE = "vector_store.json"


def load_faiss() -> Any:
    import faiss

    return faiss


class VectorStore(Protocol):
    """Nearest-neighbour search over unit vectors keyed by int64 ids."""

    dim: int

    @property
    def kind(self) -> str: ...

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: Iterable[int]) -> None: ...

    def search(
        self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]: ...

    def save(self, folder: Path) -> None: ...


class FaissStore:
    """FAISS-backed :class:`VectorStore` (see module docstring for the index types)."""

    def __init__(
        self,
        dim: int,
        *,
        hnsw_threshold: int = HNSW_THRESHOLD,
        ef_search: int = HNSW_EF_SEARCH,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        compact_ratio: float = COMPACT_RATIO,
        kind: IndexKind = "flat",
    ) -> None:
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.compact_ratio = compact_ratio
        self._kind: IndexKind = kind
        self._index: Any = self._empty(kind)
        self._tombstones: set[int] = set()
        self._mapped_from: Path | None = None  # set while the index is a read-only memory map

    # -- construction -------------------------------------------------------------------------

    def _empty(self, kind: IndexKind) -> Any:
        faiss = load_faiss()
        if kind == "flat":
            base = faiss.IndexFlatIP(self.dim)
        else:
            base = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = self.ef_construction
            base.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap2(base)

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def n_tombstones(self) -> int:
        return len(self._tombstones)

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._tombstones)

    def ids(self) -> np.ndarray:
        """Live ids, in storage order."""
        all_ids: np.ndarray = load_faiss().vector_to_array(self._index.id_map).astype(np.int64)
        if not self._tombstones:
            return all_ids
        dead = np.fromiter(self._tombstones, dtype=np.int64)
        live: np.ndarray = all_ids[~np.isin(all_ids, dead)]
        return live

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every stored point, tombstoned or not, in storage order."""
        n = int(self._index.ntotal)
        ids = load_faiss().vector_to_array(self._index.id_map).astype(np.int64)
        base = load_faiss().downcast_index(self._index.index)
        vectors = base.reconstruct_n(0, n) if n else np.zeros((0, self.dim), np.float32)
        return ids, np.asarray(vectors, dtype=np.float32)

    def _materialise(self) -> None:
        # A memory-mapped index shares pages with the file and aborts the process if resized.
        if self._mapped_from is not None:
            self._index = load_faiss().read_index(str(self._mapped_from))
            self._mapped_from = None

    # -- writes -------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under fresh ids (an id must not be present already)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected ({len(ids)}, {self.dim}) vectors, got {vectors.shape}")
        if not len(ids):
            return
        self._materialise()
        if self._kind == "flat" and len(self) + len(ids) >= self.hnsw_threshold:
            self._rebuild("hnsw", extra=(ids, vectors))
            return
        for start in range(0, len(ids), _ADD_BATCH):
            stop = start + _ADD_BATCH
            self._index.add_with_ids(vectors[start:stop], ids[start:stop])

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids (unknown ids are ignored)."""
        id_arr = np.fromiter((int(i) for i in ids), dtype=np.int64)
        if not len(id_arr):
            return
        self._materialise()
        if self._kind == "flat":
            self._index.remove_ids(id_arr)
            return
        present = set(load_faiss().vector_to_array(self._index.id_map).tolist())
        self._tombstones.update(i for i in id_arr.tolist() if i in present)
        if len(self._tombstones) > self.compact_ratio * max(1, int(self._index.ntotal)):
            self.compact()

    def compact(self) -> None:
        """Rebuild without tombstoned points; drops back to exact search if now small."""
        self._materialise()
        kind: IndexKind = "hnsw" if len(self) >= self.hnsw_threshold else "flat"
        self._rebuild(kind)

    def _rebuild(self, kind: IndexKind, extra: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        started = time.perf_counter()
        ids, vectors = self._all_vectors()
        if self._tombstones:
            keep = ~np.isin(ids, np.fromiter(self._tombstones, dtype=np.int64))
            ids, vectors = ids[keep], vectors[keep]
        if extra is not None:
            ids = np.concatenate([ids, extra[0]])
            vectors = np.concatenate([vectors, extra[1]])
        self._index = self._empty(kind)
        self._kind = kind
        self._tombstones = set()
        for start in range(0, len(ids), _ADD_BATCH):
            stop = start + _ADD_BATCH
            self._index.add_with_ids(vectors[start:stop], ids[start:stop])
        logger.info(
            "vector index rebuilt as %s with %d vectors in %.1fs",
            kind,
            len(ids),
            time.perf_counter() - started,
        )

    # -- reads --------------------------------------------------------------------------------

    def search(
        self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, inner product) for one query vector, best first.

        ``allowed`` restricts results to those ids (exact search over just them).
        """
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        total = int(self._index.ntotal)
        if k <= 0 or total == 0:
            return []
        if allowed is not None:
            return self._search_subset(q, k, allowed)
        fetch = min(total, k if not self._tombstones else 2 * k + 16)
        while True:
            scores, ids = self._raw_search(q, fetch)
            hits = [
                (int(i), float(s))
                for i, s in zip(ids[0], scores[0], strict=True)
                if i >= 0 and int(i) not in self._tombstones
            ]
            if len(hits) >= k or fetch >= total:
                return hits[:k]
            fetch = min(total, fetch * 4)

    def _raw_search(self, q: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        if self._kind == "hnsw":
            faiss = load_faiss()
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, fetch)
            scores, ids = self._index.search(q, fetch, params=params)
        else:
            scores, ids = self._index.search(q, fetch)
        return scores, ids

    def _search_subset(
        self, q: np.ndarray, k: int, allowed: Sequence[int]
    ) -> list[tuple[int, float]]:
        wanted = [int(i) for i in allowed if int(i) not in self._tombstones]
        if not wanted:
            return []
        vectors = np.stack([self._index.reconstruct(i) for i in wanted]).astype(np.float32)
        scores = vectors @ q[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(wanted[i], float(scores[i])) for i in order]

    def vector(self, id_: int) -> np.ndarray:
        """The stored vector for ``id_``."""
        return np.asarray(self._index.reconstruct(int(id_)), dtype=np.float32)

    # -- persistence --------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write ``vectors.faiss``, tombstones and parameters into ``folder`` (fsynced)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / VECTORS_FILE
        load_faiss().write_index(self._index, str(path))
        fsync_file(path)
        np.save(folder / TOMBSTONES_FILE, np.array(sorted(self._tombstones), dtype=np.int64))
        fsync_file(folder / TOMBSTONES_FILE)
        meta = {
            "kind": self._kind,
            "dim": self.dim,
            "hnsw_threshold": self.hnsw_threshold,
            "ef_search": self.ef_search,
            "ef_construction": self.ef_construction,
            "compact_ratio": self.compact_ratio,
        }
        atomic_write_text(folder / STORE_META_FILE, json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> FaissStore:
        """Load a saved store; with ``mmap`` the vectors stay on disk until touched."""
        try:
            meta = json.loads((folder / STORE_META_FILE).read_text(encoding="utf-8"))
            store = cls(
                int(meta["dim"]),
                hnsw_threshold=int(meta["hnsw_threshold"]),
                ef_search=int(meta["ef_search"]),
                ef_construction=int(meta["ef_construction"]),
                compact_ratio=float(meta["compact_ratio"]),
                kind=meta["kind"],
            )
            faiss = load_faiss()
            path = folder / VECTORS_FILE
            flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
            store._index = faiss.read_index(str(path), flags)
            store._mapped_from = path if mmap else None
            store._tombstones = set(np.load(folder / TOMBSTONES_FILE).tolist())
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise IndexCorruptError(f"cannot load vector store from {folder}: {exc}") from exc
        if store._kind == "hnsw":
            faiss.downcast_index(store._index.index).hnsw.efSearch = store.ef_search
        if int(store._index.d) != store.dim:
            raise IndexCorruptError(f"vector store in {folder} has dim {store._index.d}")
        return store
