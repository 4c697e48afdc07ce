"""Files of one index generation (documents, chunks, row ids) and the folder's housekeeping.

A generation folder is written once, fsynced, and only then referenced by ``manifest.json``;
see :mod:`index.corpus` for the commit protocol. Documents and their chunks are stored in
segments, one pair of files per segment (``documents-<name>.jsonl``, ``chunks-<name>.jsonl``),
each written by one write and never changed: the next generation hard-links the segments it
keeps, writes the new one, and lists in ``state.json`` which documents of each segment are
dead (deleted or replaced since). Generations written before segments existed have one pair
``documents.jsonl`` / ``chunks.jsonl`` and no list; they load as one segment named ``""``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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


def segment_files(name: str) -> tuple[str, str]:
    """The documents and chunks file names of segment ``name`` (``""``: the older layout)."""
    if not name:
        return DOCUMENTS_FILE, CHUNKS_FILE
    return f"documents-{name}.jsonl", f"chunks-{name}.jsonl"


def write_generation(
    folder: Path,
    segments: Mapping[str, Sequence[str]],
    dead: Mapping[str, Sequence[str]],
    docs: Mapping[str, Document],
    chunks_of: Callable[[str], Iterable[Chunk]],
    row_of: Mapping[str, int],
    next_row: int,
    *,
    previous: Path | None,
) -> None:
    """Write a fresh ``folder``: each segment (name -> its document ids) is hard-linked from
    ``previous`` when it is there, else written from ``docs`` and ``chunks_of(doc id)``;
    ``dead`` lists each segment's documents that are no longer live."""
    folder.mkdir(parents=True, exist_ok=False)
    for name, doc_ids in segments.items():
        if previous is not None and _link_segment(previous, folder, name):
            continue
        gone = set(dead.get(name, ()))
        live = [docs[d] for d in doc_ids if d not in gone]
        _write_segment(folder, name, live, chunks_of, row_of)
    state = {
        "next_row": next_row,
        "segments": [{"name": n, "dead": sorted(dead.get(n, ()))} for n in segments],
    }
    (folder / STATE_FILE).write_text(json.dumps(state) + "\n", encoding="utf-8")


def _link_segment(previous: Path, folder: Path, name: str) -> bool:
    names = segment_files(name)
    try:
        for file_name in names:
            os.link(previous / file_name, folder / file_name)
    except OSError:
        for file_name in names:
            (folder / file_name).unlink(missing_ok=True)
        return False
    return True


def _write_segment(
    folder: Path,
    name: str,
    docs: Sequence[Document],
    chunks_of: Callable[[str], Iterable[Chunk]],
    row_of: Mapping[str, int],
) -> None:
    docs_file, chunks_file = segment_files(name)
    with (folder / docs_file).open("w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(_document_to_json(doc), ensure_ascii=False) + "\n")
    with (folder / chunks_file).open("w", encoding="utf-8") as fh:
        for doc in docs:
            for chunk in sorted(chunks_of(doc.id), key=lambda c: (c.start, c.end)):
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


def sync_generation(folder: Path) -> None:
    """fsync every new file of the generation (linked ones were flushed when first written),
    its folders, and the index folder that holds it."""
    fsync_tree(folder, skip_linked=True)
    fsync_dir(folder.parent)


@dataclass(frozen=True)
class Generation:
    """What a committed generation holds: live documents and chunks, their rows and segments."""

    docs: dict[str, Document]
    chunks: dict[str, Chunk]
    row_of: dict[str, int]
    next_row: int
    # Segment name -> every document id written in it (live or not), in file order.
    segments: dict[str, tuple[str, ...]]
    # Live document id -> the segment that holds it.
    doc_segment: dict[str, str]


def read_generation(folder: Path) -> Generation:
    """The live content of a committed generation.

    Chunk texts are not stored twice: they are sliced from their document's text.
    """
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        listed = state.get("segments", [{"name": "", "dead": []}])
        generation = Generation({}, {}, {}, int(state["next_row"]), {}, {})
        for entry in listed:
            _read_segment(folder, str(entry["name"]), set(entry["dead"]), generation)
        return generation
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(
            f"index generation {folder} is unreadable ({exc}); rebuild with "
            f"`citeqa ingest seeds/ --index-dir {folder.parent} --rebuild`"
        ) from exc


def _read_segment(folder: Path, name: str, dead: set[str], into: Generation) -> None:
    docs_file, chunks_file = segment_files(name)
    written: list[str] = []
    with (folder / docs_file).open(encoding="utf-8") as fh:
        for line in fh:
            doc = _document_from_json(json.loads(line))
            written.append(doc.id)
            if doc.id not in dead:
                into.docs[doc.id] = doc
                into.doc_segment[doc.id] = name
    into.segments[name] = tuple(written)
    with (folder / chunks_file).open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["doc_id"] in dead:
                continue
            text = into.docs[rec["doc_id"]].text[rec["start"] : rec["end"]]
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
            into.chunks[chunk.id] = chunk
            into.row_of[chunk.id] = int(rec["row"])


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
