"""Ingest throughput next to the bare model's forward pass over the same chunk texts.

``citeqa bench`` calls :func:`measure_ingest_throughput`; the issue's target is a ratio >= 0.8
(everything ingest adds around the model, reading, chunking, BM25, persistence, costs <= 20%).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from index.corpus import CorpusIndex, embed_text
from index.embedding import Embedder, SentenceTransformerEmbedder


@dataclass(frozen=True)
class ThroughputResult:
    """Median figures over ``repeats`` interleaved runs."""

    documents: int
    chunks: int
    tokens: int
    batch_size: int
    ingest_seconds: float
    bare_seconds: float
    ingest_tokens_per_s: float
    bare_tokens_per_s: float
    ratio: float
    repeats: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_ingest_throughput(
    paths: Sequence[Path],
    embedder: Embedder,
    *,
    baseline: SentenceTransformerEmbedder | None = None,
    repeats: int = 3,
    workdir: Path | None = None,
) -> ThroughputResult:
    """Time full ingests of ``paths`` (fresh index each time) against the bare torch model.

    The baseline (``baseline``, else ``embedder`` itself, which must then be the torch embedder)
    encodes exactly the texts ingest embeds, with the same batch size, so the ratio shows what
    ingest costs or saves around the model. Runs alternate between the two to share machine noise.
    """
    bare = baseline if baseline is not None else embedder
    if not isinstance(bare, SentenceTransformerEmbedder):
        raise TypeError("the baseline must be the bare torch SentenceTransformerEmbedder")
    model = bare.model
    batch_size = bare.batch_size
    ingest_times: list[float] = []
    bare_times: list[float] = []
    texts: list[str] = []
    tokens = documents = 0
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for i in range(repeats + 1):
            index = CorpusIndex.create(Path(tmp) / f"run{i}", embedder, persist=False)
            report = index.ingest_paths(list(paths), replace_all=True)
            if i == 0:
                # Warm-up run: also collects the texts ingest embedded, for the baseline.
                chunks = [c for d in index.list_documents() for c in index.chunks_for(d.id)]
                texts = [embed_text(c, index.manifest.title_prefix) for c in chunks]
                tokens, documents = report.tokens, report.documents
                model.encode(texts[:8], batch_size=batch_size)
                continue
            ingest_times.append(report.seconds)
            started = time.perf_counter()
            model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            bare_times.append(time.perf_counter() - started)
    ingest_s = statistics.median(ingest_times)
    bare_s = statistics.median(bare_times)
    return ThroughputResult(
        documents=documents,
        chunks=len(texts),
        tokens=tokens,
        batch_size=batch_size,
        ingest_seconds=round(ingest_s, 3),
        bare_seconds=round(bare_s, 3),
        ingest_tokens_per_s=round(tokens / ingest_s, 1),
        bare_tokens_per_s=round(tokens / bare_s, 1),
        ratio=round(bare_s / ingest_s, 3),
        repeats=repeats,
    )
