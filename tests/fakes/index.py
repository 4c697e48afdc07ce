"""The fake index: documents in memory, one chunk per line, keyword ranking, copy-on-write writes.

It offers what the pipeline needs of an index (``SearchableIndex``) and what the HTTP service needs
besides (writes, listing, counts), like ``index.corpus.CorpusIndex``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from index.errors import DocumentNotFoundError, InvalidQueryError
from index.models import Chunk, Document, Hit, make_chunk_id
from index.text.words import content_terms
from tests.fakes.documents import FakeReport
from tests.fakes.embedder import HashingEmbedder

# At most this many chunks of one document per search, so several documents are represented.
MAX_CHUNKS_PER_DOCUMENT = 2
_VECTORS = HashingEmbedder(dim=256)


def line_chunks(doc: Document) -> list[Chunk]:
    """One chunk per non-blank line of ``doc``, the line's surrounding whitespace left out."""
    chunks = []
    pos = 0
    for line in doc.text.splitlines(keepends=True):
        start, end = pos, pos + len(line.rstrip("\n"))
        pos += len(line)
        text = doc.text[start:end]
        if text.strip():
            s = start + len(text) - len(text.lstrip())
            e = start + len(text.rstrip())
            chunks.append(
                Chunk(
                    id=make_chunk_id(doc.id, s, e),
                    doc_id=doc.id,
                    start=s,
                    end=e,
                    text=doc.text[s:e],
                    title=doc.title,
                )
            )
    return chunks


def overlap_share(query: str, text: str) -> float:
    """The share of the query's content terms that ``text`` contains (0 for a query without any)."""
    q = set(content_terms(query))
    return len(q & set(content_terms(text))) / len(q) if q else 0.0


@dataclass(frozen=True)
class _Snapshot:
    """One immutable state of the index: readers keep the one they started with."""

    docs: dict[str, Document]
    chunks: tuple[Chunk, ...]
    version: int
    terms: tuple[frozenset[str], ...]  # the content terms of each chunk
    df: Mapping[str, int]  # how many chunks hold each term

    @classmethod
    def of(cls, docs: dict[str, Document], chunks: Sequence[Chunk], version: int) -> _Snapshot:
        terms = tuple(frozenset(content_terms(c.text)) for c in chunks)
        df: dict[str, int] = {}
        for chunk_terms in terms:
            for t in chunk_terms:
                df[t] = df.get(t, 0) + 1
        return cls(docs, tuple(chunks), version, terms, df)


def _parse_filters(filters: Mapping[str, Any] | None) -> tuple[set[str] | None, str | None]:
    allowed: set[str] | None = None
    title_part: str | None = None
    for key, value in (filters or {}).items():
        if key == "doc_id":
            allowed = {value} if isinstance(value, str) else set(value)
        elif key == "title_contains":
            title_part = str(value).lower()
        else:
            raise InvalidQueryError(f"unknown filter {key!r}")
    return allowed, title_part


class FakeIndex:
    """In-memory index over line chunks, ranked by IDF-weighted overlap of content terms.

    A hit's score is the summed IDF of the query terms its chunk shares, so rare question words
    decide the ranking; ties keep chunk order, and a search returns at most
    ``MAX_CHUNKS_PER_DOCUMENT`` chunks of one document. Writes build a new snapshot under a lock
    (slowed by ``write_delay`` seconds) and swap it in, so readers never see a half-done write;
    each write bumps ``version`` ("fake-0" empty, "fake-1" once built from ``documents``).
    Every query searched is logged in ``searches``.
    """

    def __init__(self, documents: Sequence[Document] = ()) -> None:
        self._lock = threading.Lock()
        self._snap = _Snapshot.of({}, (), 0)
        self.write_delay = 0.0
        self.searches: list[str] = []
        if documents:
            self.add_documents(documents)

    @property
    def version(self) -> str:
        return f"fake-{self._snap.version}"

    @property
    def n_documents(self) -> int:
        return len(self._snap.docs)

    @property
    def n_chunks(self) -> int:
        return len(self._snap.chunks)

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: str = "hybrid",
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        self.searches.append(query)
        snap = self._snap
        allowed, title_part = _parse_filters(filters)
        q = set(content_terms(query))
        n = len(snap.chunks)
        scored: list[tuple[float, int, Chunk]] = []
        for i, (chunk, terms) in enumerate(zip(snap.chunks, snap.terms, strict=True)):
            if allowed is not None and chunk.doc_id not in allowed:
                continue
            if title_part is not None and title_part not in chunk.title.lower():
                continue
            shared = q & terms
            if shared:
                score = sum(math.log(1 + n / snap.df[t]) for t in shared)
                scored.append((score, i, chunk))
        scored.sort(key=lambda item: (-item[0], item[1]))
        per_doc: dict[str, int] = {}
        kept: list[tuple[float, Chunk]] = []
        for score, _, chunk in scored:
            if per_doc.get(chunk.doc_id, 0) < MAX_CHUNKS_PER_DOCUMENT:
                per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
                kept.append((score, chunk))
        return [
            Hit(chunk=chunk, score=score, rank=rank)
            for rank, (score, chunk) in enumerate(kept[:top_k], start=1)
        ]

    def add_documents(self, documents: Sequence[Document], progress: Any = None) -> FakeReport:
        """Adds or replaces ``documents`` (by id) in one write."""
        with self._lock:
            time.sleep(self.write_delay)
            snap = self._snap
            ids = {d.id for d in documents}
            docs = dict(snap.docs)
            chunks = [c for c in snap.chunks if c.doc_id not in ids]
            n_new = 0
            for doc in documents:
                docs[doc.id] = doc
                fresh = line_chunks(doc)
                chunks.extend(fresh)
                n_new += len(fresh)
            self._snap = _Snapshot.of(docs, chunks, snap.version + 1)
        return FakeReport(len(documents), n_new, [d.id for d in documents])

    def delete_document(self, doc_id: str) -> None:
        with self._lock:
            time.sleep(self.write_delay)
            snap = self._snap
            if doc_id not in snap.docs:
                raise DocumentNotFoundError(f"no document with id {doc_id!r}")
            docs = {k: v for k, v in snap.docs.items() if k != doc_id}
            chunks = [c for c in snap.chunks if c.doc_id != doc_id]
            self._snap = _Snapshot.of(docs, chunks, snap.version + 1)

    def query_vector(self, text: str) -> Any:
        """The default answerer's vectors come from the index: hashing ones here."""
        return _VECTORS.embed_query(text)

    def sentence_vectors(self, texts: Sequence[str]) -> Any:
        return _VECTORS.embed_documents(list(texts))

    def get_document(self, doc_id: str) -> Document:
        try:
            return self._snap.docs[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}") from None

    def list_documents(self) -> list[Document]:
        return list(self._snap.docs.values())
