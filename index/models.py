"""Frozen value types of the retrieval core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from index.hashing import sha256_text


@dataclass(frozen=True)
class Document:
    """One source document; every offset in the system points into ``text``.

    ``text`` is the file's content exactly as read (decoded UTF-8, nothing stripped or normalised).
    ``boilerplate`` lists ``(start, end)`` spans of ``text`` that are not article content
    (link lists, widgets, repeated titles, running page headers...): they stay in ``text`` but
    never enter a chunk. For PDF and DOCX, ``text`` is the extracted text the service stores
    and shows, so offsets stay exact for every format.
    """

    id: str
    text: str
    title: str
    source: str = ""
    published_at: str | None = None
    boilerplate: tuple[tuple[int, int], ...] = ()
    content_hash: str = ""
    # Paginated formats (PDF): page i+1 is ``text[pages[i][0]:pages[i][1]]``.
    pages: tuple[tuple[int, int], ...] = ()
    # Headed formats (DOCX): (start, end, heading, level) spans, nesting by level.
    sections: tuple[tuple[int, int, str, int], ...] = ()
    format: str = "text"  # text | html | pdf | docx

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", sha256_text(self.text))


def make_chunk_id(doc_id: str, start: int, end: int) -> str:
    """A chunk id derived from document id and span, so re-ingesting the same text keeps ids."""
    return sha256_text(f"{doc_id}:{start}:{end}")[:16]


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
    page: int | None = None  # 1-based, for paginated documents
    page_end: int | None = None  # when the chunk runs onto a later page
    section: str = ""  # heading path ("Results > Costs") for headed documents


@dataclass(frozen=True)
class Hit:
    """A chunk returned by retrieval, best first; ``score`` ranks in the mode used."""

    chunk: Chunk
    score: float
    rank: int
    dense_score: float | None = None
    keyword_score: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """The JSON shape of a hit (CLI ``search --json``, HTTP ``/search``)."""
    return {
        "doc_id": hit.chunk.doc_id,
        "chunk_id": hit.chunk.id,
        "score": round(float(hit.score), 6),
        "start": hit.chunk.start,
        "end": hit.chunk.end,
        "text": hit.chunk.text,
        "title": hit.chunk.title,
        "rank": hit.rank,
    }


@dataclass(frozen=True)
class Skipped:
    """A path that was not ingested, and why (short, user-facing)."""

    path: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    """What one write did; ``tokens`` counts the model tokens of the chunks embedded."""

    documents: int
    chunks: int
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0
    doc_ids: list[str] = field(default_factory=list)
    unchanged: int = 0
    embed_seconds: float = 0.0
