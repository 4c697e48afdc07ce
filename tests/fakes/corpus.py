"""Documents for the fakes: the seed articles, one-off documents, and the fakes built over them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from index.models import Document
from tests.fakes.answerer import FakeAnswerer
from tests.fakes.index import FakeIndex

SEEDS_DIR = Path(__file__).resolve().parents[2] / "seeds"


def seed_documents() -> list[Document]:
    """The seed articles as Documents (id = file stem, title = first non-empty line)."""
    docs = []
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        title = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
        docs.append(Document(id=path.stem, text=text, title=title[:120]))
    return docs


def make_document(doc_id: str, text: str, title: str = "") -> Document:
    """A document whose title defaults to the start of its first line."""
    return Document(id=doc_id, text=text, title=title or text.strip().splitlines()[0][:80])


def seed_fake_index(extra: Sequence[Document] = ()) -> FakeIndex:
    """A ``FakeIndex`` over the seeds (and ``extra``), at version "fake-1"."""
    return FakeIndex([*seed_documents(), *extra])


def fake_parts(
    delay: float = 0.0, error: Exception | None = None
) -> tuple[FakeIndex, FakeAnswerer]:
    """A seed ``FakeIndex`` and a ``FakeAnswerer`` quoting from it, as the service holds them."""
    index = seed_fake_index()
    return index, FakeAnswerer(index, delay=delay, error=error)
