"""``CorpusIndex``: documents, chunks, vector and keyword stores, persisted as one folder.

Layout of an index folder::

    manifest.json        commit point: counts, model, weights hash, and the live generation
    gen-000007-1a2b3c/   every file of one committed state (never modified once committed)
        documents-<seg>.jsonl  chunks-<seg>.jsonl  state.json (segments, dead documents)
        vectors.faiss (base)  delta_*.npy  tombstones.npy  vector_store.json
        bm25/            keyword segments, vocabulary, tombstones
    .lock                serialises writers across processes (fcntl)

A write builds the new state in memory, writes it into a fresh generation folder, fsyncs it, then
atomically replaces ``manifest.json``. A crash at any moment leaves the previous manifest and its
generation intact; stray folders from crashed writes are removed by the next write. Writes are
incremental: files that a generation shares with the previous one (document segments, the vector
base, keyword segments) are hard links to the same immutable files, so a write costs what it
adds, not the size of the corpus.

In memory, searches take a read lock; a write embeds outside any lock, then swaps its new state
in under the write lock, so readers see either the old or the new corpus, never a mix.

Example::

    index = CorpusIndex.open(Path(".citeqa/index"), load_default_embedder())
    for hit in index.search("Who signed the mutual defense pact?", top_k=3):
        print(hit.rank, hit.chunk.doc_id, hit.chunk.text[:80])
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embedders.protocol import Embedder
from index.embedders.tokenizer import TextTokenizer, load_default_tokenizer
from index.errors import DocumentNotFoundError, IndexNotFoundError, InvalidQueryError
from index.ingestion.plan import ProgressFn, chunk_new_documents, embed_in_batches
from index.lru import LruCache
from index.models import Chunk, Document, Hit, IngestReport
from index.retrieval.fusion import MODES, Mode, Retriever
from index.retrieval.rerank import FeatureReranker
from index.state import (
    CorpusState,
    allowed_rows,
    commit_state,
    embed_text,
    empty_state,
    load_state,
    new_manifest,
    next_state,
    row_text,
)
from index.storage import generations
from index.storage.manifest import (
    Manifest,
    check_compatible,
    read_manifest,
)
from index.storage.rwlock import RWLock

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


MAX_TOP_K = 100
_QUERY_CACHE = 256
# Whether the model sees "title\nchunk". Measured on tests/data/retrieval_questions.jsonl (30
# questions, real model): with the title, hybrid top-1 0.63 / MRR 0.77; without, 0.80 / 0.90. The
# seed titles all say "North Korean troops in Ukraine", so they blur chunks together.
TITLE_PREFIX = False
# Indexed chunks compared with each new chunk for near-duplicates (see _near_copy_candidates).
NEAR_COPY_CANDIDATES = 10


class CorpusIndex:
    """A searchable, persistent corpus (thread-safe reads, serialised atomic writes)."""

    def __init__(
        self,
        path: Path,
        embedder: Embedder,
        state: CorpusState,
        *,
        tokenizer: TextTokenizer | None = None,
    ) -> None:
        self.path = path
        self.embedder = embedder
        self._state = state
        self._tokenizer = tokenizer
        self._rw = RWLock()
        self._write_mutex = threading.Lock()
        # True for an index made by create(persist=False) until its first commit: it replaces
        # whatever is on disk instead of building on it.
        self._detached = False
        # One per index so its sentence-vector cache outlives single queries.
        self._reranker = FeatureReranker(embedder)
        self._query_vectors: LruCache[str, np.ndarray] = LruCache(_QUERY_CACHE)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, embedder: Embedder, *, tokenizer: TextTokenizer | None = None
    ) -> CorpusIndex:
        """Load the committed index at ``path`` (memory-mapped stores)."""
        path = Path(path)
        manifest = read_manifest(path)
        check_compatible(
            manifest,
            model_name=embedder.model_name,
            weights_sha256=embedder.weights_sha256,
            dim=embedder.dim,
            index_dir=path,
        )
        state = load_state(path, manifest)
        return cls(path, embedder, state, tokenizer=tokenizer)

    @classmethod
    def create(
        cls,
        path: Path,
        embedder: Embedder,
        *,
        tokenizer: TextTokenizer | None = None,
        persist: bool = True,
    ) -> CorpusIndex:
        """A new empty index at ``path``, replacing any index there.

        With ``persist=False`` nothing is written until the first write commits, so a rebuild
        that fails or is killed leaves the old index in place.
        """
        path = Path(path)
        state = empty_state(new_manifest(embedder, title_prefix=TITLE_PREFIX), embedder.dim)
        index = cls(path, embedder, state, tokenizer=tokenizer)
        index._detached = True
        if persist:
            with index._write_mutex, generations.writer_lock(path):
                index._swap(replace(state, manifest=index._commit(state, created=True)))
        return index

    # -- reads --------------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        return self._state.manifest

    @property
    def version(self) -> str:
        return self._state.manifest.version

    @property
    def n_documents(self) -> int:
        return len(self._state.docs)

    @property
    def n_chunks(self) -> int:
        return len(self._state.chunks)

    def get_document(self, doc_id: str) -> Document:
        try:
            return self._state.docs[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}") from None

    def list_documents(self) -> list[Document]:
        return sorted(self._state.docs.values(), key=lambda d: d.id)

    def chunks_for(self, doc_id: str) -> list[Chunk]:
        state = self._state
        if doc_id not in state.docs:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}")
        return [state.chunks[c] for c in state.doc_chunks.get(doc_id, ())]

    def query_vector(self, text: str) -> np.ndarray:
        """The query vector of ``text``; recent ones are kept for the answerer to reuse."""
        cached = self._query_vectors.get(text)
        if cached is not None:
            return cached
        return self._query_vectors.put(text, self.embedder.embed_query(text))

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Document vectors of sentences, through the re-ranker's cache (retrieved chunks'
        sentences are usually there already)."""
        return self._reranker.sentence_vectors(texts)

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: Mode = "hybrid",
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Unique chunks for ``query``, best first, ranks from 1."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidQueryError("query must be a non-empty string")
        _check_top_k(top_k)
        if mode not in MODES:
            raise InvalidQueryError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        # Encode before taking the lock: it is the slow part and touches no shared state.
        vector = self.query_vector(query) if mode != "bm25" else None
        return self._search(query, top_k, mode, filters, vector)

    def _search(
        self,
        query: str,
        top_k: int,
        mode: Mode,
        filters: Mapping[str, Any] | None,
        vector: np.ndarray | None,
    ) -> list[Hit]:
        self._rw.acquire_read()
        try:
            state = self._state
            allowed = allowed_rows(state, filters)
            if allowed is not None and not allowed:
                return []
            retriever = Retriever(
                self.embedder,
                state.vectors,
                state.keywords,
                reranker=self._reranker,
                text_of=lambda row: row_text(state, row),
            )
            rows = retriever.search(query, top_k, mode, allowed=allowed, query_vector=vector)
            hits: list[Hit] = []
            seen: set[str] = set()
            for row in rows:
                chunk_id = state.chunk_of_row.get(row.row_id)
                if chunk_id is None or chunk_id in seen:
                    continue
                seen.add(chunk_id)
                hits.append(
                    Hit(
                        chunk=state.chunks[chunk_id],
                        score=row.score,
                        rank=len(hits) + 1,
                        dense_score=row.dense_score,
                        keyword_score=row.keyword_score,
                    )
                )
            return hits
        finally:
            self._rw.release_read()

    def reload_if_changed(self) -> bool:
        """Pick up a write committed by another process; True if the index changed."""
        with self._write_mutex:
            manifest = read_manifest(self.path)
            if manifest.version == self.version:
                return False
            state = load_state(self.path, manifest)
            self._swap(state)
            return True

    # -- writes -------------------------------------------------------------------------------

    def ingest_paths(
        self,
        paths: Sequence[Path],
        max_bytes: int = 5 * 1024 * 1024,
        progress: ProgressFn | None = None,
        *,
        replace_all: bool = False,
    ) -> IngestReport:
        """Read files/folders and upsert their documents; bad files are skipped with a reason.

        ``replace_all`` makes the result contain only these documents (a rebuild).
        """
        from index.ingestion.reading import load_paths

        started = time.perf_counter()
        docs, skipped = load_paths([Path(p) for p in paths], max_bytes=max_bytes)
        report = self._write(docs, (), progress, replace_all=replace_all)
        return replace(report, skipped=list(skipped), seconds=time.perf_counter() - started)

    def add_documents(
        self, docs: Sequence[Document], progress: ProgressFn | None = None
    ) -> IngestReport:
        """Upsert by id: a document with an existing id replaces that document and its chunks."""
        return self._write(docs, (), progress)

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and its chunks (DocumentNotFoundError if absent)."""
        if doc_id not in self._state.docs:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}")
        self._write((), (doc_id,), None)

    def _write(
        self,
        docs: Sequence[Document],
        deletes: Sequence[str],
        progress: ProgressFn | None,
        *,
        replace_all: bool = False,
    ) -> IngestReport:
        started = time.perf_counter()
        with self._write_mutex, generations.writer_lock(self.path):
            self._sync_with_disk()
            old = self._state
            by_id = {d.id: d for d in docs}  # the last of repeated ids wins
            for doc_id in deletes:
                if doc_id not in old.docs:
                    raise DocumentNotFoundError(f"no document with id {doc_id!r}")
            gone = set(deletes)
            if replace_all:
                gone |= set(old.docs) - set(by_id)
            changed = [d for d in by_id.values() if not _same_document(old.docs.get(d.id), d)]
            unchanged = len(by_id) - len(changed)
            if not changed and not gone and not self._detached:
                return IngestReport(
                    len(by_id),
                    0,
                    seconds=time.perf_counter() - started,
                    doc_ids=list(by_id),
                    unchanged=unchanged,
                )
            replaced = gone | {d.id for d in changed}
            new_chunks = chunk_new_documents(
                changed,
                lambda fresh: _near_copy_candidates(old, fresh, replaced),
                self._tokenizer_or_default(),
                max_tokens=self.embedder.max_seq_length,
                title_prefix=old.manifest.title_prefix,
            )
            texts = [embed_text(c, old.manifest.title_prefix) for c in new_chunks]
            t0 = time.perf_counter()
            vectors = embed_in_batches(self.embedder, texts, progress)
            embed_seconds = time.perf_counter() - t0
            state, removed_rows = next_state(old, changed, replaced, new_chunks)
            new_rows = np.arange(old.next_row, state.next_row, dtype=np.int64)
            # The one in-place change (FAISS add/remove) and the switch to the new mappings
            # happen under the same write lock: a search sees all of the old or all of the new.
            self._rw.acquire_write()
            try:
                state.vectors.remove(removed_rows)
                state.vectors.add(new_rows, vectors)
                state = replace(
                    state,
                    manifest=replace(
                        state.manifest,
                        vector_index=state.vectors.kind,
                        n_tombstones=state.vectors.n_tombstones,
                    ),
                )
                self._state = state
            finally:
                self._rw.release_write()
            try:
                manifest = self._commit(state)
            except BaseException:
                # Memory must not claim what disk does not hold: go back to the committed state.
                logger.exception("commit failed; reloading the last committed index")
                self._swap(self._committed_or_empty())
                raise
            self._swap(replace(state, manifest=manifest))
            tokens = sum(c.n_tokens or self._tokens(c.text) for c in new_chunks)
            return IngestReport(
                documents=len(by_id),
                chunks=len(new_chunks),
                seconds=time.perf_counter() - started,
                tokens=tokens,
                doc_ids=list(by_id),
                unchanged=unchanged,
                embed_seconds=embed_seconds,
            )

    def _sync_with_disk(self) -> None:
        """Before writing, adopt a newer commit made by another process (writer lock held)."""
        if self._detached:
            return
        try:
            manifest = read_manifest(self.path)
        except IndexNotFoundError:
            return
        if manifest.version != self._state.manifest.version:
            self._swap(load_state(self.path, manifest))

    def _committed_or_empty(self) -> CorpusState:
        try:
            if not self._detached:
                return load_state(self.path, read_manifest(self.path))
        except IndexNotFoundError:
            pass
        return empty_state(self._state.manifest, self.embedder.dim)

    def _tokenizer_or_default(self) -> TextTokenizer:
        if self._tokenizer is None:
            self._tokenizer = load_default_tokenizer()
        return self._tokenizer

    def _tokens(self, text: str) -> int:
        return self._tokenizer_or_default().count(text)

    def _swap(self, state: CorpusState) -> None:
        self._rw.acquire_write()
        try:
            self._state = state
        finally:
            self._rw.release_write()

    def _commit(self, state: CorpusState, *, created: bool = False) -> Manifest:
        """Write ``state`` as a new generation and make it live; returns the new manifest."""
        previous = "" if self._detached else self._state.manifest.generation
        manifest = commit_state(
            self.path, state, previous_generation=previous, fresh=created or self._detached
        )
        self._detached = False
        return manifest


def _near_copy_candidates(
    state: CorpusState, fresh: Sequence[Chunk], replaced: set[str]
) -> list[Chunk]:
    """Indexed chunks of other documents that may be near-copies of ``fresh`` ones: the best
    keyword matches on each fresh chunk's rarest terms. A near-copy (Jaccard >= 0.8 of word
    3-shingles) shares nearly all of them, so it ranks first; no write reads every chunk."""
    found: dict[str, Chunk] = {}
    for chunk in fresh:
        for row in state.keywords.rows_sharing_rare_terms(chunk.text, NEAR_COPY_CANDIDATES):
            chunk_id = state.chunk_of_row.get(row)
            if chunk_id is not None and state.chunks[chunk_id].doc_id not in replaced:
                found[chunk_id] = state.chunks[chunk_id]
    return list(found.values())


def _check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise InvalidQueryError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")


def _same_document(old: Document | None, new: Document) -> bool:
    return old is not None and old == new


def build_index(
    paths: Sequence[Path],
    index_dir: Path,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    progress: ProgressFn | None = None,
    max_bytes: int = 5 * 1024 * 1024,
) -> IngestReport:
    """Ingest ``paths`` into the index at ``index_dir`` (opened, or created if absent)."""
    index_dir = Path(index_dir)
    if rebuild or not (index_dir / "manifest.json").is_file():
        index = CorpusIndex.create(index_dir, embedder, persist=False)
        return index.ingest_paths(paths, max_bytes, progress, replace_all=True)
    index = CorpusIndex.open(index_dir, embedder)
    return index.ingest_paths(paths, max_bytes, progress)


__all__ = ["CorpusIndex", "IngestReport", "ProgressFn", "build_index"]
