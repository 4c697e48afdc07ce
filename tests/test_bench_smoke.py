"""A tiny run of ``citeqa bench --quick``: every figure is there and sane (no timing targets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval.bench.measure import Plan, load_questions, retrieval_metrics
from eval.bench.server import rss_mb

REPO_ROOT = Path(__file__).resolve().parent.parent

POSITIVE = {
    "encode": ("torch_p50_ms", "onnx_fp32_p50_ms", "onnx_int8_p50_ms"),
    "ingest": (
        "chunks",
        "tokens",
        "tokens_per_s",
        "bare_forward_tokens_per_s",
        "ratio",
        "onnx_fp32_tokens_per_s",
        "onnx_int8_tokens_per_s",
        "onnx_build_tokens_per_s",
        "onnx_build_ratio",
    ),
    "serve": (
        "cold_start_s",
        "rss_mb_ready",
        "rss_mb_after_load",
        "healthz_p50_ms",
        "search_p50_ms",
        "ask_p50_ms",
        "sequential_rps",
        "concurrent_rps",
        "throughput_ratio",
        "search_over_bare",
        "ask_over_bare",
        "search_over_bare_1thread",
        "ask_over_bare_1thread",
    ),
    "scale": ("n", "dim", "p50_ms", "exact_p50_ms", "load_ms"),
    "pdf_ingest": (
        "pages",
        "extract_pages_per_s",
        "ingest_pages_per_s",
        "bare_embed_s",
        "ingest_over_bare",
        "extract_share_of_ingest",
    ),
}


def test_rss_reads_this_process() -> None:
    assert 10 < rss_mb(os.getpid()) < 100_000


def test_retrieval_metrics_count_quote_hits_by_rank() -> None:
    from index.models import Chunk, Hit

    class Index:
        def search(self, query: str, top_k: int, mode: str) -> list[Hit]:
            texts = ["nothing here", "the pact was  signed\nin June"]
            return [
                Hit(Chunk(f"c{i}", "d1", 0, len(t), t), 1.0 - i / 10, i + 1)
                for i, t in enumerate(texts)
            ]

    questions = [
        {"question": "q1", "doc_id": "d1", "quote": "pact was signed in June"},
        {"question": "q2", "doc_id": "d2", "quote": "pact"},  # right text, wrong document
    ]
    metrics = retrieval_metrics(Index(), questions, "dense")
    assert metrics == {"hit_at_1": 0.0, "hit_at_3": 0.5, "mrr_at_5": 0.25}


def test_questions_come_from_the_shared_set() -> None:
    rows = load_questions()
    assert rows
    assert all({"question", "doc_id", "quote"} <= set(r) for r in rows)
    assert Plan(1, 1, 1, 1, 1, 1).scale == 1


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(600)
def test_quick_bench_writes_every_figure(tmp_path: Path, onnx_cache_dir: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "CITEQA_RATE_LIMIT_PER_MINUTE": "1000000"}
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "bench", "--quick", "--json", str(out)],
        cwd=REPO_ROOT,  # the ONNX cache is .citeqa/models under the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "citeqa bench" in proc.stdout
    results = json.loads(out.read_text())
    assert results["quick"] is True
    assert "error" not in results["serve"], results["serve"]
    for section, keys in POSITIVE.items():
        for key in keys:
            value = results[section][key]
            assert isinstance(value, int | float), (section, key, value)
            assert value > 0, (section, key, value)
    assert results["serve"]["errors"] == 0
    assert results["serve"]["embedder"] == "onnx"
    history = results["serve"]["history"]
    assert history["cases"] >= 15
    assert history["rewritten"] >= 10  # the follow-ups were rewritten in the server
    assert history["ask_with_history_p50_ms"] > 0
    assert history["ask_rewritten_query_p50_ms"] > 0
    assert 0 < history["rewrite_step_p50_ms"] <= history["rewrite_step_max_ms"]
    fidelity = results["fidelity"]
    assert 0.9 < fidelity["int8_cos_mean"] <= 1.0001
    assert 0.999 < fidelity["fp32_cos_mean"] <= 1.0001
    retrieval = results["retrieval"]
    for name in ("torch_dense", "onnx_int8_dense", "torch_hybrid", "onnx_int8_hybrid"):
        assert 0.0 <= retrieval[name]["hit_at_1"] <= retrieval[name]["hit_at_3"] <= 1.0


def test_scale_report_of_the_embedded_backend(tmp_path: Path) -> None:
    from eval.bench.scale_backends import run_scale
    from eval.bench.scale_report import ScaleConfig

    config = ScaleConfig(chunks=300, runs=2, before_runs=1, queries=5, real_sample=0)
    rows = run_scale(config, ["embedded"])
    figures = {r.figure: r for r in rows}
    assert {r.backend for r in rows} == {"embedded"}
    assert figures["keyword results equal to a fresh build (top 10, scores exact)"].value == (
        "5 / 5 queries"
    )
    assert any(f.startswith("add one document") and r.before for f, r in figures.items())
    with pytest.raises(ValueError, match="unknown backend"):
        run_scale(config, ["nosuch"])
