"""``PostgresCorpusIndex``: the corpus in PostgreSQL + pgvector, with ``CorpusIndex``'s interface.

Chosen by the composition root when ``CITEQA_DATABASE_URL`` is set. Chunking, near-duplicate
removal, embedding, BM25 scoring and rank fusion are the embedded backend's own; only storage
differs (:mod:`index.stores.postgres`). Every worker process opens its own pool on the same
database, so a write by one is seen by the others at their next query.

Example::

    index = PostgresCorpusIndex.open("postgresql://localhost/citeqa", load_default_embedder())
    index.ingest_paths([Path("seeds")])
    print(index.search("Who signed the mutual defense pact?", top_k=1)[0].chunk.doc_id)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from index.corpus import MAX_TOP_K, TITLE_PREFIX
from index.embedders.protocol import Embedder
from index.embedders.tokenizer import TextTokenizer, load_default_tokenizer
from index.errors import DocumentNotFoundError, InvalidQueryError
from index.hashing import short_hash
from index.ingestion.dedupe import new_unique_chunks
from index.ingestion.plan import ProgressFn, chunk_new_documents, embed_in_batches
from index.lru import LruCache
from index.models import Chunk, Document, Hit, IngestReport
from index.retrieval.fusion import FUSION_DEPTH, MODES, Mode, fuse_lists
from index.retrieval.rerank import FeatureReranker
from index.state import FILTER_KEYS, embed_text
from index.storage.generations import _document_to_json
from index.stores.bm25_store import Bm25Tokenizer
from index.stores.postgres import ChunkRow, PostgresStore, bm25_idf

logger = logging.getLogger(__name__)

_QUERY_CACHE = 256
_DOCUMENT_CACHE = 1024
# Candidates for near-duplicate removal against other documents: a chunk whose 3-shingles
# overlap another's by 80% (the dedupe threshold) has a cosine far above this.
_NEAR_DUPLICATE_COSINE = 0.8


def document_hash(doc: Document) -> str:
    """Hash of everything stored about ``doc``: equal hashes mean re-ingesting is a no-op."""
    return short_hash(json.dumps(_document_to_json(doc), sort_keys=True), length=32)


class PostgresCorpusIndex:
    """A searchable corpus stored in PostgreSQL (thread-safe; writes are transactions)."""

    def __init__(
        self, store: PostgresStore, embedder: Embedder, *, tokenizer: TextTokenizer | None = None
    ) -> None:
        self.store = store
        self.embedder = embedder
        self._tokenizer = tokenizer
        self._terms = Bm25Tokenizer()
        self._reranker = FeatureReranker(embedder)
        self._query_vectors: LruCache[str, np.ndarray] = LruCache(_QUERY_CACHE)
        self._documents: LruCache[str, Document] = LruCache(_DOCUMENT_CACHE)
        self._seen_version = -1
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        url: str,
        embedder: Embedder,
        *,
        tokenizer: TextTokenizer | None = None,
        max_connections: int = 8,
    ) -> PostgresCorpusIndex:
        """Connect (a pool), create or migrate the schema, and check the embedding model."""
        store = PostgresStore(
            url,
            dim=embedder.dim,
            model_name=embedder.model_name,
            max_connections=max_connections,
        )
        return cls(store, embedder, tokenizer=tokenizer)

    def close(self) -> None:
        self.store.close()

    # -- reads --------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return f"pg-{self.store.version()}"

    @property
    def n_documents(self) -> int:
        return self.store.counts()[0]

    @property
    def n_chunks(self) -> int:
        return self.store.counts()[1]

    def get_document(self, doc_id: str) -> Document:
        cached = self._documents.get(doc_id)
        if cached is not None:
            return cached
        found = self.store.get_documents([doc_id]).get(doc_id)
        if found is None:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}")
        return self._documents.put(doc_id, found)

    def list_documents(self) -> list[Document]:
        return self.store.list_documents()

    def chunks_for(self, doc_id: str) -> list[Chunk]:
        if not self.store.document_hashes([doc_id]):
            raise DocumentNotFoundError(f"no document with id {doc_id!r}")
        return self.store.chunks_for(doc_id)

    def query_vector(self, text: str) -> np.ndarray:
        """The query vector of ``text``; recent ones are kept for the answerer to reuse."""
        cached = self._query_vectors.get(text)
        if cached is not None:
            return cached
        return self._query_vectors.put(text, self.embedder.embed_query(text))

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self._reranker.sentence_vectors(texts)

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: Mode = "hybrid",
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Unique chunks for ``query``, best first, ranks from 1 (one SQL round trip)."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidQueryError("query must be a non-empty string")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise InvalidQueryError(
                f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}"
            )
        if mode not in MODES:
            raise InvalidQueryError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        doc_ids, title = _filters(filters)
        vector = self.query_vector(query) if mode != "bm25" else None
        terms = self._terms(query) if mode != "dense" else []
        depth = max(top_k, FUSION_DEPTH) if mode == "hybrid" else top_k
        lists = self.store.search_lists(vector, terms, depth, doc_ids=doc_ids, title_contains=title)
        self._note_version(lists.version)

        def word_idf(word: str) -> float:
            tokens = self._terms(word)
            if not tokens:
                return bm25_idf(lists.n_chunks, 0)
            df = lists.document_frequency.get(tokens[0])
            if df is None and tokens[0] not in terms:
                found, n = self.store.document_frequencies(tokens[:1])
                return bm25_idf(n, found.get(tokens[0], 0))
            return bm25_idf(lists.n_chunks, df or 0)

        def text_of(row: int) -> str | None:
            chunk = lists.chunks.get(row)
            return chunk.text if chunk is not None else None

        rows = fuse_lists(
            query,
            top_k,
            mode,
            lists.dense,
            lists.keyword,
            query_vector=vector,
            reranker=self._reranker,
            text_of=text_of,
            word_idf=word_idf,
        )
        hits: list[Hit] = []
        for row in rows:
            hits.append(
                Hit(
                    chunk=lists.chunks[row.row_id],
                    score=row.score,
                    rank=len(hits) + 1,
                    dense_score=row.dense_score,
                    keyword_score=row.keyword_score,
                )
            )
        return hits

    def _note_version(self, version: int) -> None:
        with self._lock:
            if version != self._seen_version:
                self._documents.clear()
                self._seen_version = version

    def reload_if_changed(self) -> bool:
        """True if another process wrote since this one last looked (nothing to reload)."""
        version = self.store.version()
        with self._lock:
            changed = version != self._seen_version
        self._note_version(version)
        return changed

    # -- writes -------------------------------------------------------------------------------

    def ingest_paths(
        self,
        paths: Sequence[Path],
        max_bytes: int = 5 * 1024 * 1024,
        progress: ProgressFn | None = None,
        *,
        replace_all: bool = False,
    ) -> IngestReport:
        """Read files/folders and upsert their documents (one transaction per document)."""
        from index.ingestion.reading import load_paths

        started = time.perf_counter()
        docs, skipped = load_paths([Path(p) for p in paths], max_bytes=max_bytes)
        report = self._write(docs, progress, replace_all=replace_all)
        return replace(report, skipped=list(skipped), seconds=time.perf_counter() - started)

    def add_documents(
        self, docs: Sequence[Document], progress: ProgressFn | None = None
    ) -> IngestReport:
        """Upsert by id; an unchanged document (same content hash) is left as it is."""
        return self._write(docs, progress)

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and its chunks in one transaction (DocumentNotFoundError if absent)."""
        if not self.store.delete_document(doc_id):
            raise DocumentNotFoundError(f"no document with id {doc_id!r}")

    def _write(
        self, docs: Sequence[Document], progress: ProgressFn | None, *, replace_all: bool = False
    ) -> IngestReport:
        started = time.perf_counter()
        by_id = {d.id: d for d in docs}  # the last of repeated ids wins
        hashes = {d.id: document_hash(d) for d in by_id.values()}
        stored = self.store.document_hashes(list(by_id))
        changed = [d for d in by_id.values() if stored.get(d.id) != hashes[d.id]]
        tokenizer = self._tokenizer_or_default()
        fresh = chunk_new_documents(
            changed,
            lambda _fresh: (),  # other documents' near-copies are found by vector below
            tokenizer,
            max_tokens=self.embedder.max_seq_length,
            title_prefix=TITLE_PREFIX,
        )
        texts = [embed_text(c, TITLE_PREFIX) for c in fresh]
        t0 = time.perf_counter()
        vectors = embed_in_batches(self.embedder, texts, progress)
        embed_seconds = time.perf_counter() - t0
        # Near-duplicates of other documents' chunks are dropped, as the embedded backend does;
        # the candidates are each new chunk's nearest neighbours instead of every chunk.
        others = self.store.neighbour_chunks(
            vectors, [d.id for d in changed], min_score=_NEAR_DUPLICATE_COSINE
        )
        kept = {c.id for c in new_unique_chunks(fresh, others)}
        rows: dict[str, list[ChunkRow]] = {d.id: [] for d in changed}
        for chunk, vector, text in zip(fresh, vectors, texts, strict=True):
            if chunk.id in kept:
                rows[chunk.doc_id].append(ChunkRow(chunk, vector, self._terms(text)))
        written = 0
        for doc in changed:
            if self.store.write_document(doc, hashes[doc.id], rows[doc.id]):
                written += len(rows[doc.id])
        if replace_all:
            for old in set(self.store.document_ids()) - set(by_id):
                self.store.delete_document(old)
        tokens = sum(c.n_tokens or tokenizer.count(c.text) for c in fresh if c.id in kept)
        return IngestReport(
            documents=len(by_id),
            chunks=written,
            seconds=time.perf_counter() - started,
            tokens=tokens,
            doc_ids=list(by_id),
            unchanged=len(by_id) - len(changed),
            embed_seconds=embed_seconds,
        )

    def _tokenizer_or_default(self) -> TextTokenizer:
        if self._tokenizer is None:
            self._tokenizer = load_default_tokenizer()
        return self._tokenizer


def _filters(filters: Mapping[str, Any] | None) -> tuple[list[str] | None, str | None]:
    """(doc ids, title substring) of the search filters, validated as the embedded index does."""
    if not filters:
        return None, None
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise InvalidQueryError(
            f"unknown filter(s) {sorted(unknown)}; supported: {', '.join(FILTER_KEYS)}"
        )
    doc_ids = None
    if "doc_id" in filters:
        wanted = filters["doc_id"]
        if isinstance(wanted, str):
            wanted = [wanted]
        if not isinstance(wanted, list | tuple) or not all(isinstance(w, str) for w in wanted):
            raise InvalidQueryError("filter doc_id must be a string or a list of strings")
        doc_ids = list(wanted)
    title = None
    if "title_contains" in filters:
        title = filters["title_contains"]
        if not isinstance(title, str):
            raise InvalidQueryError("filter title_contains must be a string")
    return doc_ids, title
