"""Frozen value types of the retrieval core."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One source document; every offset in the system points into ``text``.

    ``text`` is the file's content exactly as read (decoded UTF-8, nothing stripped or normalised).
    ``boilerplate`` lists ``(start, end)`` spans of ``text`` that are not article content
    (link lists, widgets, repeated titles...): they stay in ``text`` but never enter a chunk.
    """

    id: str
    text: str
    title: str
    source: str = ""
    published_at: str | None = None
    boilerplate: tuple[tuple[int, int], ...] = ()
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
            object.__setattr__(self, "content_hash", digest)


def make_chunk_id(doc_id: str, start: int, end: int) -> str:
    """A chunk id derived from document id and span, so re-ingesting the same text keeps ids."""
    raw = f"{doc_id}:{start}:{end}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    """A retrievable span of a document: ``document.text[start:end] == text``."""

    id: str
    doc_id: str
    start: int
    end: int
    text: str
    title: str = ""
    n_tokens: int = 0


@dataclass(frozen=True)
class Hit:
    """A chunk returned by retrieval, best first; ``score`` ranks in the mode used."""

    chunk: Chunk
    score: float
    rank: int
    dense_score: float | None = None
    keyword_score: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
