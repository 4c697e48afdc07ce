"""What a write adds: the chunks of new or changed documents, and their vectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from index.embedders.protocol import Embedder
from index.embedders.tokenizer import TextTokenizer
from index.ingestion.chunking import chunk_document
from index.ingestion.dedupe import new_unique_chunks
from index.models import Chunk, Document

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(chunks_embedded, chunks_total)`` while a write embeds."""

EMBED_BATCH = 256


def chunk_new_documents(
    docs: Sequence[Document],
    existing: Callable[[Sequence[Chunk]], Sequence[Chunk]],
    tokenizer: TextTokenizer,
    *,
    max_tokens: int,
    title_prefix: bool,
) -> list[Chunk]:
    """Chunks of ``docs`` within the model's budget, minus near-duplicates of each other and of
    the chunks already indexed for other documents; ``existing(fresh)`` gives those of them
    that could be near-copies of the fresh chunks (all of them, or candidates from an index)."""
    fresh: list[Chunk] = []
    for doc in docs:
        budget = max_tokens
        if title_prefix and doc.title:
            # Keep room for the prepended title so the model never truncates a chunk.
            budget = max(64, budget - tokenizer.count(doc.title))
        fresh.extend(chunk_document(doc, tokenizer, max_tokens=budget))
    return new_unique_chunks(fresh, existing(fresh) if fresh else ())


def embed_in_batches(
    embedder: Embedder, texts: Sequence[str], progress: ProgressFn | None = None
) -> np.ndarray:
    """Document vectors of ``texts``, ``EMBED_BATCH`` at a time, reporting progress."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    if progress is not None:
        progress(0, len(texts))
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        out[start : start + len(batch)] = embedder.embed_documents(batch)
        if progress is not None:
            progress(start + len(batch), len(texts))
    return out
