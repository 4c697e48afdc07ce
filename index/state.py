"""One immutable view of a corpus in memory, and the pure steps between views.

``CorpusIndex`` (:mod:`index.corpus`) holds a :class:`CorpusState` and swaps in a new one per
write; loading a committed generation, computing the next state and resolving filters live here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from index.embedders.protocol import Embedder
from index.errors import InvalidQueryError
from index.models import Chunk, Document
from index.storage import generations
from index.storage.manifest import FORMAT_VERSION, Manifest, utc_now, write_manifest
from index.storage.segments import merge_group
from index.stores.bm25_store import Bm25Store, StaleKeywordStoreError
from index.stores.faiss_store import FaissStore

logger = logging.getLogger(__name__)

FILTER_KEYS = ("doc_id", "title_contains")
# Size policy of the document segments (index.storage.segments), in live documents.
SEGMENT_MERGE_FACTOR = 8
SEGMENT_MIN_DOCS = 16


@dataclass(frozen=True)
class CorpusState:
    """One immutable view of the corpus (the vector store is swapped under the write lock)."""

    manifest: Manifest
    docs: Mapping[str, Document]
    chunks: Mapping[str, Chunk]
    doc_chunks: Mapping[str, tuple[str, ...]]
    row_of: Mapping[str, int]
    chunk_of_row: Mapping[int, str]
    vectors: FaissStore
    keywords: Bm25Store
    next_row: int
    # Document segments on disk (see index.storage.generations): segment name -> every document
    # id written in it, and live document id -> its segment.
    segments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    doc_segment: Mapping[str, str] = field(default_factory=dict)


def embed_text(chunk: Chunk, title_prefix: bool) -> str:
    """The text the model sees for a chunk: optionally its document title, then the chunk."""
    if title_prefix and chunk.title and not chunk.text.startswith(chunk.title):
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text


def next_state(
    old: CorpusState,
    changed: Sequence[Document],
    replaced: set[str],
    new_chunks: Sequence[Chunk],
) -> tuple[CorpusState, list[int]]:
    """The new mappings and keyword store (vectors are applied by the caller)."""
    docs = {k: v for k, v in old.docs.items() if k not in replaced}
    docs.update({d.id: d for d in changed})
    removed_rows = [old.row_of[c] for d in replaced for c in old.doc_chunks.get(d, ())]
    chunks = {k: v for k, v in old.chunks.items() if v.doc_id not in replaced}
    row_of = {k: v for k, v in old.row_of.items() if k in chunks}
    doc_chunks = {k: v for k, v in old.doc_chunks.items() if k not in replaced}
    grouped: dict[str, list[str]] = {d.id: [] for d in changed}
    for offset, chunk in enumerate(new_chunks):
        chunks[chunk.id] = chunk
        row_of[chunk.id] = old.next_row + offset
        grouped[chunk.doc_id].append(chunk.id)
    doc_chunks.update({k: tuple(v) for k, v in grouped.items()})
    chunk_of_row = {r: c for c, r in row_of.items()}
    # Incremental: the new chunks become a keyword segment, the removed rows tombstones.
    keywords = old.keywords.updated(
        [old.next_row + offset for offset in range(len(new_chunks))],
        [embed_text(c, old.manifest.title_prefix) for c in new_chunks],
        removed_rows,
    )
    segments, doc_segment = _next_segments(old, replaced, [d.id for d in changed])
    manifest = replace(old.manifest, n_documents=len(docs), n_chunks=len(chunks))
    state = CorpusState(
        manifest,
        docs,
        chunks,
        doc_chunks,
        row_of,
        chunk_of_row,
        old.vectors,
        keywords,
        old.next_row + len(new_chunks),
        segments,
        doc_segment,
    )
    return state, removed_rows


def _next_segments(
    old: CorpusState, replaced: set[str], written: list[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """The documents written by this write form a new segment; segments with nothing live are
    dropped, and a full size tier of small ones is merged into one new segment."""
    segments = dict(old.segments)
    doc_segment = {d: s for d, s in old.doc_segment.items() if d not in replaced}
    if written:
        name = uuid.uuid4().hex[:12]
        segments[name] = tuple(written)
        doc_segment.update(dict.fromkeys(written, name))
    while True:
        live: dict[str, list[str]] = {n: [] for n in segments}
        for doc_id, name in doc_segment.items():
            live[name].append(doc_id)
        names = list(segments)
        group = merge_group(
            [len(live[n]) for n in names],
            factor=SEGMENT_MERGE_FACTOR,
            min_size=SEGMENT_MIN_DOCS,
        )
        if not group:
            return segments, doc_segment
        merged = [d for i in group for d in live[names[i]]]
        for i in group:
            del segments[names[i]]
        if merged:
            name = uuid.uuid4().hex[:12]
            segments[name] = tuple(merged)
            doc_segment.update(dict.fromkeys(merged, name))


def row_text(state: CorpusState, row: int) -> str | None:
    chunk_id = state.chunk_of_row.get(row)
    return state.chunks[chunk_id].text if chunk_id is not None else None


def allowed_rows(state: CorpusState, filters: Mapping[str, Any] | None) -> list[int] | None:
    if not filters:
        return None
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise InvalidQueryError(
            f"unknown filter(s) {sorted(unknown)}; supported: {', '.join(FILTER_KEYS)}"
        )
    doc_ids = set(state.docs)
    if "doc_id" in filters:
        wanted = filters["doc_id"]
        if isinstance(wanted, str):
            wanted = [wanted]
        if not isinstance(wanted, list | tuple) or not all(isinstance(w, str) for w in wanted):
            raise InvalidQueryError("filter doc_id must be a string or a list of strings")
        doc_ids &= set(wanted)
    if "title_contains" in filters:
        needle = filters["title_contains"]
        if not isinstance(needle, str):
            raise InvalidQueryError("filter title_contains must be a string")
        doc_ids = {d for d in doc_ids if needle.casefold() in state.docs[d].title.casefold()}
    return [state.row_of[c] for d in sorted(doc_ids) for c in state.doc_chunks.get(d, ())]


def load_state(path: Path, manifest: Manifest) -> CorpusState:
    folder = path / manifest.generation
    gen = generations.read_generation(folder)
    docs, chunks, row_of = gen.docs, gen.chunks, gen.row_of
    doc_chunks: dict[str, list[str]] = {d: [] for d in docs}
    for chunk in sorted(chunks.values(), key=lambda c: (c.doc_id, c.start, c.end)):
        doc_chunks.setdefault(chunk.doc_id, []).append(chunk.id)
    vectors = FaissStore.load(folder, mmap=True)
    try:
        keywords = Bm25Store.load(folder, mmap=True)
    except StaleKeywordStoreError as exc:
        # The text is all there: re-segment in memory; the next write stores the new form.
        logger.warning("%s; rebuilding the keyword index in memory", exc)
        live = sorted(row_of.values())
        text_of = {r: embed_text(chunks[c], manifest.title_prefix) for c, r in row_of.items()}
        keywords = Bm25Store.build(live, [text_of[r] for r in live])
    generations.check_consistent(
        folder, manifest, len(docs), len(chunks), len(vectors), len(keywords)
    )
    return CorpusState(
        manifest,
        docs,
        chunks,
        {k: tuple(v) for k, v in doc_chunks.items()},
        row_of,
        {r: c for c, r in row_of.items()},
        vectors,
        keywords,
        gen.next_row,
        gen.segments,
        gen.doc_segment,
    )


def empty_state(manifest: Manifest, dim: int) -> CorpusState:
    manifest = replace(manifest, n_documents=0, n_chunks=0, vector_index="flat", n_tombstones=0)
    return CorpusState(manifest, {}, {}, {}, {}, {}, FaissStore(dim), Bm25Store(), 1)


def new_manifest(embedder: Embedder, *, title_prefix: bool) -> Manifest:
    """The manifest of a new, empty index for ``embedder``."""
    now = utc_now()
    return Manifest(
        format_version=FORMAT_VERSION,
        model_name=embedder.model_name,
        weights_sha256=embedder.weights_sha256,
        dim=embedder.dim,
        n_documents=0,
        n_chunks=0,
        created_at=now,
        updated_at=now,
        vector_index="flat",
        version="0",
        generation="",
        title_prefix=title_prefix,
    )


def commit_state(
    path: Path, state: CorpusState, *, previous_generation: str, fresh: bool
) -> Manifest:
    """Writes ``state`` as a new generation of the index at ``path`` and makes it live.

    The atomic replace of ``manifest.json`` is the commit point; the previous generation is kept
    until the next commit (readers may still have it open). Returns the new manifest.
    """
    generation = generations.new_generation_name(path)
    folder = path / generation
    dead = {
        name: [d for d in doc_ids if state.doc_segment.get(d) != name]
        for name, doc_ids in state.segments.items()
    }
    generations.write_generation(
        folder,
        state.segments,
        dead,
        state.docs,
        lambda doc_id: (state.chunks[c] for c in state.doc_chunks.get(doc_id, ())),
        state.row_of,
        state.next_row,
        previous=path / previous_generation if previous_generation and not fresh else None,
    )
    state.vectors.save(folder)
    state.keywords.save(folder)
    generations.sync_generation(folder)
    now = utc_now()
    number = generations.generation_number(generation)
    manifest = replace(
        state.manifest,
        generation=generation,
        version=f"{number}-{uuid.uuid4().hex[:8]}",
        created_at=now if fresh else state.manifest.created_at,
        updated_at=now,
    )
    write_manifest(path, manifest)  # the commit point
    generations.remove_stale_generations(path, keep={generation, previous_generation})
    return manifest
