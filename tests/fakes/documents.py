"""The fake ``DocumentFactory`` of the HTTP service, and the report the fake index's writes give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from index.errors import InvalidDocumentError
from index.models import Document


@dataclass(frozen=True)
class FakeReport:
    """What ``FakeIndex.add_documents`` did, shaped like the real index's ingest report."""

    documents: int
    chunks: int
    doc_ids: list[str]


class FakeDocumentFactory:
    """Builds documents like ``index.ingestion.reading`` would, with its checks (empty, binary,
    non-UTF-8)."""

    def from_text(
        self,
        text: str,
        doc_id: str | None,
        title: str | None,
        source: str,
        published_at: str | None,
    ) -> Document:
        if not text.strip():
            raise InvalidDocumentError(doc_id or "document", "the text is empty")
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return Document(
            id=doc_id or f"doc-{abs(hash(text)) % 10**8}",
            text=text,
            title=title or first[:100],
            source=source,
            published_at=published_at,
        )

    def from_bytes(
        self,
        name: str,
        data: bytes,
        doc_id: str | None,
        title: str | None,
        source: str,
        published_at: str | None,
    ) -> Document:
        if b"\x00" in data:
            raise InvalidDocumentError(name, "looks like a binary file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidDocumentError(name, "is not valid UTF-8 text") from None
        return self.from_text(text, doc_id or Path(name).stem, title, source, published_at)
