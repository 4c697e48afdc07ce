"""PDF ingest throughput for ``citeqa bench``: pages/s, and how it compares with embedding the
same text bare (the share of ingest time spent extracting text from the PDF)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from eval.bench.pdfwrite import PageSpec, TextRun, build_pdf, wrap_words
from index.corpus import CorpusIndex, build_index
from index.embedders.protocol import Embedder
from index.ingestion.pdf import extract_pdf

_LEFT, _TOP, _SIZE, _LEADING, _WRAP, _LINES_PER_PAGE = 72.0, 720.0, 11.0, 14.0, 85, 46


def seeds_as_pdf(seeds: Path, copies: int = 1) -> tuple[bytes, int]:
    """The seed articles typeset as one multi-page PDF (``copies`` times over), and its pages.

    Repeated copies collapse as near-duplicates at ingest, so the bench uses one."""
    lines: list[str] = []
    for _ in range(copies):
        for path in sorted(seeds.glob("*.txt")):
            text = path.read_text(encoding="utf-8")
            # The writer's standard fonts speak WinAnsi: characters outside it become "?".
            text = text.encode("cp1252", "replace").decode("cp1252")
            for para in text.splitlines():
                lines.extend(wrap_words(para, _WRAP) if para.strip() else [""])
    pages = []
    for at in range(0, len(lines), _LINES_PER_PAGE):
        chunk = lines[at : at + _LINES_PER_PAGE]
        runs = tuple(
            TextRun(_LEFT, _TOP - i * _LEADING, line, _SIZE) for i, line in enumerate(chunk) if line
        )
        pages.append(PageSpec(runs))
    return build_pdf(pages), len(pages)


def bench_pdf_ingest(seeds: Path, embedder: Embedder, copies: int = 1) -> dict[str, Any]:
    """Extraction alone, a full ingest of the PDF, and a bare embedding of its chunks."""
    data, n_pages = seeds_as_pdf(seeds, copies)
    t0 = time.perf_counter()
    extracted = extract_pdf("seeds.pdf", data)
    extract_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="citeqa-bench-pdf-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        (folder / "seeds.pdf").write_bytes(data)
        report = build_index([folder], Path(tmp) / "index", embedder)
        index = CorpusIndex.open(Path(tmp) / "index", embedder)
        chunks = [c.text for c in index.chunks_for("seeds")]
    t0 = time.perf_counter()
    embedder.embed_documents(chunks)
    bare_s = time.perf_counter() - t0
    return {
        "pages": n_pages,
        "chars": len(extracted.text),
        "extract_s": round(extract_s, 3),
        "extract_pages_per_s": round(n_pages / extract_s, 1) if extract_s else 0.0,
        "ingest_s": round(report.seconds, 3),
        "ingest_pages_per_s": round(n_pages / report.seconds, 1) if report.seconds else 0.0,
        "bare_embed_s": round(bare_s, 3),
        "ingest_over_bare": round(report.seconds / bare_s, 3) if bare_s else 0.0,
        "extract_share_of_ingest": round(extract_s / report.seconds, 3) if report.seconds else 0.0,
    }
