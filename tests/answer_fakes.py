"""Test doubles for the answering tests: an in-memory keyword index over seed-like documents."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from index.errors import DocumentNotFoundError, InvalidQueryError
from index.models import Chunk, Document, Hit, make_chunk_id
from service.answering.question import content_terms, term_set

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"


def seed_documents() -> list[Document]:
    """The seed articles as Documents (id = file stem, title = first non-empty line)."""
    docs = []
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        title = next(line.strip() for line in text.splitlines() if line.strip())
        docs.append(Document(id=path.stem, text=text, title=title[:120]))
    return docs


def make_document(doc_id: str, text: str, title: str = "") -> Document:
    return Document(id=doc_id, text=text, title=title or text.strip().splitlines()[0][:80])


class FakeIndex:
    """Chunks = non-empty lines; search = count of shared question terms (rank order ties)."""

    def __init__(self, documents: Sequence[Document], version: str = "fake-1") -> None:
        self._docs = {d.id: d for d in documents}
        self.version = version
        self.searches: list[str] = []
        self._chunks: list[Chunk] = []
        for doc in documents:
            pos = 0
            for line in doc.text.splitlines(keepends=True):
                start, end = pos, pos + len(line.rstrip("\n"))
                pos += len(line)
                text = doc.text[start:end]
                if text.strip():
                    lead = len(text) - len(text.lstrip())
                    trail = len(text.rstrip())
                    s, e = start + lead, start + trail
                    self._chunks.append(
                        Chunk(
                            id=make_chunk_id(doc.id, s, e),
                            doc_id=doc.id,
                            start=s,
                            end=e,
                            text=doc.text[s:e],
                            title=doc.title,
                        )
                    )

        self._terms = [term_set(c.text) for c in self._chunks]
        self._df: dict[str, int] = {}
        for terms in self._terms:
            for t in terms:
                self._df[t] = self._df.get(t, 0) + 1

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: str = "hybrid",
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        self.searches.append(query)
        allowed: set[str] | None = None
        for key, value in (filters or {}).items():
            if key != "doc_id":
                raise InvalidQueryError(f"unknown filter {key!r}")
            allowed = {value} if isinstance(value, str) else set(value)
        q = set(content_terms(query))
        n = len(self._chunks)
        scored = []
        for i, chunk in enumerate(self._chunks):
            if allowed is not None and chunk.doc_id not in allowed:
                continue
            # IDF-weighted overlap, so rare question words decide the ranking.
            overlap = sum(math.log(1 + n / self._df[t]) for t in q & self._terms[i])
            if overlap:
                scored.append((overlap, -i, chunk))
        scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
        # At most two chunks per document, so several documents are always represented.
        per_doc: dict[str, int] = {}
        kept = []
        for item in scored:
            doc_id = item[2].doc_id
            if per_doc.get(doc_id, 0) < 2:
                per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
                kept.append(item)
        return [
            Hit(chunk=c, score=float(s), rank=r)
            for r, (s, _, c) in enumerate(kept[:top_k], start=1)
        ]

    def get_document(self, doc_id: str) -> Document:
        try:
            return self._docs[doc_id]
        except KeyError:
            raise DocumentNotFoundError(doc_id) from None


def seed_fake_index(extra: Sequence[Document] = ()) -> FakeIndex:
    return FakeIndex([*seed_documents(), *extra])
