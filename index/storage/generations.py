"""Files of one index generation (documents, chunks, row ids) and the folder's housekeeping.

A generation folder is written once, fsynced, and only then referenced by ``manifest.json``;
see :mod:`index.corpus` for the commit protocol.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from index.errors import IndexCorruptError
from index.models import Chunk, Document
from index.storage.atomic import fsync_dir, fsync_tree
from index.storage.locks import exclusive_lock
from index.storage.manifest import MANIFEST_NAME, Manifest

logger = logging.getLogger(__name__)

DOCUMENTS_FILE = "documents.jsonl"
CHUNKS_FILE = "chunks.jsonl"
STATE_FILE = "state.json"
LOCK_FILE = ".lock"
_GEN_RE = re.compile(r"^gen-(\d{6,})-[0-9a-f]{6}$")


def generation_number(name: str) -> int:
    match = _GEN_RE.match(name)
    return int(match.group(1)) if match else 0


def new_generation_name(index_dir: Path) -> str:
    """``gen-NNNNNN-xxxxxx``, numbered after every generation folder present."""
    index_dir.mkdir(parents=True, exist_ok=True)
    highest = max((generation_number(p.name) for p in index_dir.iterdir() if p.is_dir()), default=0)
    return f"gen-{highest + 1:06d}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive lock on ``index_dir/.lock``: one writing process at a time."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(index_dir / LOCK_FILE):
        yield


def _document_to_json(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "text": doc.text,
        "title": doc.title,
        "source": doc.source,
        "published_at": doc.published_at,
        "boilerplate": [list(span) for span in doc.boilerplate],
        "content_hash": doc.content_hash,
        "pages": [list(span) for span in doc.pages],
        "sections": [list(s) for s in doc.sections],
        "format": doc.format,
    }


def _document_from_json(data: Mapping[str, Any]) -> Document:
    return Document(
        id=data["id"],
        text=data["text"],
        title=data["title"],
        source=data.get("source", ""),
        published_at=data.get("published_at"),
        boilerplate=tuple((int(s), int(e)) for s, e in data.get("boilerplate", [])),
        content_hash=data.get("content_hash", ""),
        pages=tuple((int(s), int(e)) for s, e in data.get("pages", [])),
        sections=tuple(
            (int(s), int(e), str(h), int(lv)) for s, e, h, lv in data.get("sections", [])
        ),
        format=data.get("format", "text"),
    )


def write_generation(
    folder: Path,
    docs: Iterable[Document],
    chunks: Iterable[Chunk],
    row_of: Mapping[str, int],
    next_row: int,
) -> None:
    """Write documents, chunks (with their row ids) and counters into a fresh ``folder``."""
    folder.mkdir(parents=True, exist_ok=False)
    with (folder / DOCUMENTS_FILE).open("w", encoding="utf-8") as fh:
        for doc in sorted(docs, key=lambda d: d.id):
            fh.write(json.dumps(_document_to_json(doc), ensure_ascii=False) + "\n")
    with (folder / CHUNKS_FILE).open("w", encoding="utf-8") as fh:
        for chunk in sorted(chunks, key=lambda c: (c.doc_id, c.start, c.end)):
            record = {
                "row": row_of[chunk.id],
                "id": chunk.id,
                "doc_id": chunk.doc_id,
                "start": chunk.start,
                "end": chunk.end,
                "title": chunk.title,
                "n_tokens": chunk.n_tokens,
                "page": chunk.page,
                "page_end": chunk.page_end,
                "section": chunk.section,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    (folder / STATE_FILE).write_text(json.dumps({"next_row": next_row}) + "\n", encoding="utf-8")


def sync_generation(folder: Path) -> None:
    """fsync every file of the generation and the index folder that holds it."""
    fsync_tree(folder)
    fsync_dir(folder.parent)


def read_generation(
    folder: Path,
) -> tuple[dict[str, Document], dict[str, Chunk], dict[str, int], int]:
    """(documents, chunks, chunk id -> row id, next row id) of a committed generation.

    Chunk texts are not stored twice: they are sliced from their document's text.
    """
    try:
        docs: dict[str, Document] = {}
        with (folder / DOCUMENTS_FILE).open(encoding="utf-8") as fh:
            for line in fh:
                doc = _document_from_json(json.loads(line))
                docs[doc.id] = doc
        chunks: dict[str, Chunk] = {}
        row_of: dict[str, int] = {}
        with (folder / CHUNKS_FILE).open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                text = docs[rec["doc_id"]].text[rec["start"] : rec["end"]]
                chunk = Chunk(
                    id=rec["id"],
                    doc_id=rec["doc_id"],
                    start=rec["start"],
                    end=rec["end"],
                    text=text,
                    title=rec.get("title", ""),
                    n_tokens=rec.get("n_tokens", 0),
                    page=rec.get("page"),
                    page_end=rec.get("page_end"),
                    section=rec.get("section", ""),
                )
                chunks[chunk.id] = chunk
                row_of[chunk.id] = int(rec["row"])
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        return docs, chunks, row_of, int(state["next_row"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(
            f"index generation {folder} is unreadable ({exc}); rebuild with "
            f"`citeqa ingest seeds/ --index-dir {folder.parent} --rebuild`"
        ) from exc


def check_consistent(
    folder: Path, manifest: Manifest, n_docs: int, n_chunks: int, n_vectors: int, n_keywords: int
) -> None:
    """The counts recorded in the manifest agree with every store."""
    counts = {
        "documents": (manifest.n_documents, n_docs),
        "chunks": (manifest.n_chunks, n_chunks),
        "vectors": (manifest.n_chunks, n_vectors),
        "keyword rows": (manifest.n_chunks, n_keywords),
    }
    bad = [f"{k}: manifest {a}, found {b}" for k, (a, b) in counts.items() if a != b]
    if bad:
        raise IndexCorruptError(
            f"index generation {folder} is inconsistent ({'; '.join(bad)}); rebuild with "
            f"`citeqa ingest seeds/ --index-dir {folder.parent} --rebuild`"
        )


def remove_stale_generations(index_dir: Path, keep: set[str]) -> None:
    """Delete generation folders not in ``keep`` and temp files from crashed writes.

    Called with the writer lock held, after the manifest switch. The previous generation is
    normally kept too, so another process that is opening it right now still finds its files.
    """
    for entry in index_dir.iterdir():
        if entry.name in keep or entry.name in (MANIFEST_NAME, LOCK_FILE):
            continue
        try:
            if entry.is_dir() and _GEN_RE.match(entry.name):
                shutil.rmtree(entry)
            elif entry.is_file() and entry.name.startswith(f".{MANIFEST_NAME}."):
                entry.unlink()
        except OSError as exc:  # housekeeping must never fail a committed write
            logger.warning("could not remove stale %s: %s", entry, exc)
