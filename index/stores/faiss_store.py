"""Dense vector store on FAISS with stable int64 ids; exact search when small, HNSW when large.

Ids are chosen by the caller and never reused, so they stay valid across deletes.

The store is a large *base* index, immutable once built, plus a small exact *delta* index that
takes every add; a delete of a base id records a tombstone that searches filter out
(over-fetching to keep ``k`` results), a delete of a delta id removes it from the delta. A
search asks both and keeps the best. So a write costs work proportional to the write, and a
saved base is never rewritten: the next generation hard-links its file and writes only the
delta and the tombstones. The size policy merges:

* the delta into the base once it holds ``delta_max`` vectors (HNSW takes additions in place);
* the base anew, without its tombstoned points, once they exceed ``compact_ratio`` of it;
* everything into HNSW (``IndexIDMap2(IndexHNSWFlat(M=32))``) when the live size reaches
  ``hnsw_threshold``; below it the base is ``IndexIDMap2(IndexFlatIP)``, exact inner product.

The base kind is recorded in the index manifest (``vector_index``). Saved bases load through a
memory map (``IO_FLAG_MMAP_IFC``): loading is near-instant and pages come in on demand; only a
merge reads one into memory. An index folder written before the delta existed has no delta
files and loads as a base with an empty delta.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from index.errors import IndexCorruptError

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
# Vectors the exact delta holds before it is merged into the base: the delta is rewritten with
# every commit and searched by brute force, so it stays small; each merge rewrites the base.
DELTA_MAX = 4096
_ADD_BATCH = 20_000

IndexKind = Literal["flat", "hnsw"]
VECTORS_FILE = "vectors.faiss"
TOMBSTONES_FILE = "tombstones.npy"
DELTA_IDS_FILE = "delta_ids.npy"
DELTA_VECTORS_FILE = "delta_vectors.npy"
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
    """FAISS-backed :class:`VectorStore`: an immutable base, an exact delta and tombstones."""

    def __init__(
        self,
        dim: int,
        *,
        hnsw_threshold: int = HNSW_THRESHOLD,
        ef_search: int = HNSW_EF_SEARCH,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        compact_ratio: float = COMPACT_RATIO,
        delta_max: int = DELTA_MAX,
        kind: IndexKind = "flat",
    ) -> None:
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.compact_ratio = compact_ratio
        self.delta_max = delta_max
        self._kind: IndexKind = kind
        self._index: Any = self._empty(kind)  # the base
        self._base_ids: set[int] = set()
        self._delta: Any = self._empty("flat")
        self._delta_ids: set[int] = set()
        self._tombstones: set[int] = set()
        # The folder holding this base's file, while the base is unchanged since it was saved
        # there or loaded from there: the next save links the file instead of rewriting it.
        self._base_home: Path | None = None
        self._mapped = False  # the base is a read-only memory map of the file in _base_home

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

    @property
    def n_delta(self) -> int:
        return len(self._delta_ids)

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._tombstones) + len(self._delta_ids)

    def ids(self) -> np.ndarray:
        """Live ids: the base's in storage order, then the delta's."""
        ids, _ = self._live_vectors(with_vectors=False)
        return ids

    def _live_vectors(self, *, with_vectors: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every live point: base without tombstones, then delta."""
        faiss = load_faiss()
        out_ids, out_vecs = [], []
        for index, dead in ((self._index, self._tombstones), (self._delta, set())):
            n = int(index.ntotal)
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            vecs = (
                np.asarray(faiss.downcast_index(index.index).reconstruct_n(0, n), np.float32)
                if with_vectors and n
                else np.zeros((n if with_vectors else 0, self.dim), np.float32)
            )
            if dead:
                keep = ~np.isin(ids, np.fromiter(dead, dtype=np.int64))
                ids = ids[keep]
                vecs = vecs[keep] if with_vectors else vecs
            out_ids.append(ids)
            out_vecs.append(vecs)
        return np.concatenate(out_ids), np.concatenate(out_vecs)

    # -- writes -------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under fresh ids (an id must not be present already)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(ids) != len(vectors):
            raise ValueError(f"expected ({len(ids)}, {self.dim}) vectors, got {vectors.shape}")
        if not len(ids):
            return
        if self._kind == "flat" and len(self) + len(ids) >= self.hnsw_threshold:
            self._rebuild("hnsw", extra=(ids, vectors))
            return
        self._delta.add_with_ids(vectors, ids)
        self._delta_ids.update(ids.tolist())
        if len(self._delta_ids) >= self.delta_max:
            self._merge_delta()

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids (unknown ids are ignored)."""
        wanted = [int(i) for i in ids]
        in_delta = [i for i in wanted if i in self._delta_ids]
        if in_delta:
            self._delta.remove_ids(np.asarray(in_delta, dtype=np.int64))
            self._delta_ids.difference_update(in_delta)
        self._tombstones.update(i for i in wanted if i in self._base_ids)
        if len(self._tombstones) > self.compact_ratio * max(1, int(self._index.ntotal)):
            self.compact()

    def compact(self) -> None:
        """Rebuild the base from every live point; drops back to exact search if now small."""
        kind: IndexKind = "hnsw" if len(self) >= self.hnsw_threshold else "flat"
        self._rebuild(kind)

    def _merge_delta(self) -> None:
        """Move the delta into the base; HNSW takes additions in place, no rebuild."""
        started = time.perf_counter()
        faiss = load_faiss()
        if self._mapped and self._base_home is not None:
            # A memory-mapped index shares pages with the file and aborts if resized.
            self._index = faiss.read_index(str(self._base_home / VECTORS_FILE))
            self._set_ef()
            self._mapped = False
        n = int(self._delta.ntotal)
        ids = faiss.vector_to_array(self._delta.id_map).astype(np.int64)
        vectors = np.asarray(faiss.downcast_index(self._delta.index).reconstruct_n(0, n))
        for start in range(0, n, _ADD_BATCH):
            stop = start + _ADD_BATCH
            self._index.add_with_ids(vectors[start:stop], ids[start:stop])
        self._base_ids.update(ids.tolist())
        self._base_home = None
        self._delta = self._empty("flat")
        self._delta_ids = set()
        logger.info(
            "merged %d delta vectors into the %s base in %.1fs",
            n,
            self._kind,
            time.perf_counter() - started,
        )

    def _rebuild(self, kind: IndexKind, extra: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        started = time.perf_counter()
        ids, vectors = self._live_vectors()
        if extra is not None:
            ids = np.concatenate([ids, extra[0]])
            vectors = np.concatenate([vectors, extra[1]])
        self._index = self._empty(kind)
        self._kind = kind
        self._tombstones = set()
        self._delta = self._empty("flat")
        self._delta_ids = set()
        self._base_home = None
        self._mapped = False
        for start in range(0, len(ids), _ADD_BATCH):
            stop = start + _ADD_BATCH
            self._index.add_with_ids(vectors[start:stop], ids[start:stop])
        self._base_ids = set(ids.tolist())
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
        if k <= 0 or len(self) == 0:
            return []
        if allowed is not None:
            return self._search_subset(q, k, allowed)
        hits = self._search_base(q, k)
        if self._delta_ids:
            scores, ids = self._delta.search(q, min(k, len(self._delta_ids)))
            hits += [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
            hits.sort(key=lambda hit: -hit[1])
        return hits[:k]

    def _search_base(self, q: np.ndarray, k: int) -> list[tuple[int, float]]:
        total = int(self._index.ntotal)
        if total == 0:
            return []
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
        wanted = [
            int(i)
            for i in allowed
            if int(i) in self._delta_ids
            or (int(i) in self._base_ids and int(i) not in self._tombstones)
        ]
        if not wanted:
            return []
        vectors = np.stack([self.vector(i) for i in wanted]).astype(np.float32)
        scores = vectors @ q[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(wanted[i], float(scores[i])) for i in order]

    def vector(self, id_: int) -> np.ndarray:
        """The stored vector for ``id_``."""
        index = self._delta if int(id_) in self._delta_ids else self._index
        return np.asarray(index.reconstruct(int(id_)), dtype=np.float32)

    # -- persistence --------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the base (or hard-link it if unchanged), delta, tombstones and parameters into
        ``folder``, a fresh generation folder that the commit fsyncs before making it live."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / VECTORS_FILE
        if not self._link_base(path):
            load_faiss().write_index(self._index, str(path))
            self._base_home = folder  # an identical copy: the next save links this one
        faiss = load_faiss()
        delta_ids = faiss.vector_to_array(self._delta.id_map).astype(np.int64)
        n = len(delta_ids)
        delta_vectors = (
            np.asarray(faiss.downcast_index(self._delta.index).reconstruct_n(0, n), np.float32)
            if n
            else np.zeros((0, self.dim), np.float32)
        )
        for name, array in (
            (TOMBSTONES_FILE, np.array(sorted(self._tombstones), dtype=np.int64)),
            (DELTA_IDS_FILE, delta_ids),
            (DELTA_VECTORS_FILE, delta_vectors),
        ):
            np.save(folder / name, array)
        meta = {
            "kind": self._kind,
            "dim": self.dim,
            "hnsw_threshold": self.hnsw_threshold,
            "ef_search": self.ef_search,
            "ef_construction": self.ef_construction,
            "compact_ratio": self.compact_ratio,
            "delta_max": self.delta_max,
        }
        (folder / STORE_META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    def _link_base(self, path: Path) -> bool:
        home = self._base_home
        if home is None:
            return False
        if home == path.parent:
            return True
        try:
            os.link(home / VECTORS_FILE, path)
        except OSError as exc:
            logger.debug("cannot link %s (%s); writing the base", home / VECTORS_FILE, exc)
            path.unlink(missing_ok=True)
            return False
        self._base_home = path.parent
        return True

    def _set_ef(self) -> None:
        if self._kind == "hnsw":
            load_faiss().downcast_index(self._index.index).hnsw.efSearch = self.ef_search

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> FaissStore:
        """Load a saved store; with ``mmap`` the base stays on disk until touched."""
        try:
            meta = json.loads((folder / STORE_META_FILE).read_text(encoding="utf-8"))
            store = cls(
                int(meta["dim"]),
                hnsw_threshold=int(meta["hnsw_threshold"]),
                ef_search=int(meta["ef_search"]),
                ef_construction=int(meta["ef_construction"]),
                compact_ratio=float(meta["compact_ratio"]),
                delta_max=int(meta.get("delta_max", DELTA_MAX)),
                kind=meta["kind"],
            )
            faiss = load_faiss()
            path = folder / VECTORS_FILE
            flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
            store._index = faiss.read_index(str(path), flags)
            store._base_home = folder
            store._mapped = mmap
            store._base_ids = set(faiss.vector_to_array(store._index.id_map).tolist())
            store._tombstones = set(np.load(folder / TOMBSTONES_FILE).tolist())
            if (folder / DELTA_IDS_FILE).is_file():  # absent in folders written before it
                delta_ids = np.load(folder / DELTA_IDS_FILE)
                if len(delta_ids):
                    store._delta.add_with_ids(np.load(folder / DELTA_VECTORS_FILE), delta_ids)
                    store._delta_ids = set(delta_ids.tolist())
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise IndexCorruptError(f"cannot load vector store from {folder}: {exc}") from exc
        store._set_ef()
        if int(store._index.d) != store.dim:
            raise IndexCorruptError(f"vector store in {folder} has dim {store._index.d}")
        return store
