"""Near-duplicate chunks: word 3-shingle Jaccard, one chunk kept per repeated passage."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from index.models import Chunk
from index.text.words import words

DEFAULT_DUPLICATE_THRESHOLD = 0.8

_SHINGLE = 3


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    tokens = words(text.casefold())
    if len(tokens) < _SHINGLE:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + _SHINGLE]) for i in range(len(tokens) - _SHINGLE + 1))


def find_near_duplicates(
    chunks: Iterable[Chunk], threshold: float = DEFAULT_DUPLICATE_THRESHOLD
) -> dict[str, str]:
    """Map each redundant chunk id to the id of the chunk it duplicates.

    Two chunks are near-duplicates when the Jaccard similarity of their word 3-shingles
    (case-folded) is at least ``threshold``. Chunks are visited by ``(doc_id, start, end)`` and
    the first of a group is kept, so the result does not depend on input order.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    ordered = sorted(chunks, key=lambda c: (c.doc_id, c.start, c.end, c.id))
    sets = [_shingles(c.text) for c in ordered]
    # Prefix filtering: with shingles in one global order (rarest first), two sets with
    # Jaccard >= t share a shingle among their first |s| - ceil(t*|s|) + 1. Only those are
    # indexed and probed, so common shingles do not make every pair a candidate.
    freq: dict[tuple[str, ...], int] = {}
    for sh in sets:
        for g in sh:
            freq[g] = freq.get(g, 0) + 1
    kept: list[int] = []
    postings: dict[tuple[str, ...], list[int]] = {}
    dropped: dict[str, str] = {}
    for idx, sh in enumerate(sets):
        if not sh:
            continue
        ranked = sorted(sh, key=lambda g: (freq[g], g))
        prefix = ranked[: len(sh) - math.ceil(threshold * len(sh) - 1e-9) + 1]
        candidates = sorted({k for g in prefix for k in postings.get(g, ())})
        match = next(
            (k for k in candidates if len(sh & sets[k]) / len(sh | sets[k]) >= threshold),
            None,
        )
        if match is not None:
            dropped[ordered[idx].id] = ordered[match].id
            continue
        kept.append(idx)
        for g in prefix:
            postings.setdefault(g, []).append(idx)
    return dropped


def collapse_near_duplicates(
    chunks: Sequence[Chunk], threshold: float = DEFAULT_DUPLICATE_THRESHOLD
) -> list[Chunk]:
    """``chunks`` without near-duplicates (see ``find_near_duplicates``), input order kept."""
    dropped = find_near_duplicates(chunks, threshold)
    return [c for c in chunks if c.id not in dropped]


def new_unique_chunks(fresh: Sequence[Chunk], existing: Sequence[Chunk]) -> list[Chunk]:
    """``fresh`` chunks minus near-duplicates among themselves and of ``existing`` ones (chunks
    already indexed for other documents), so a repeated passage is indexed once."""
    out = collapse_near_duplicates(fresh)
    if not existing or not out:
        return out
    fresh_ids = {c.id for c in out}
    dropped = find_near_duplicates([*existing, *out])
    drop = {d for d, keep in dropped.items() if d in fresh_ids}
    drop |= {keep for d, keep in dropped.items() if keep in fresh_ids and d not in fresh_ids}
    return [c for c in out if c.id not in drop]
