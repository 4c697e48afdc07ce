"""``citeqa bench``: every performance figure of the service next to its baseline, in one run.

Baselines are measured in the same run on the same inputs, so the ratios hold on a busy machine
even when the absolute numbers drift:

- query path: ``/search`` and ``/ask`` p50 over HTTP against the bare torch model encoding the same
  questions in-process (sentence-transformers ``encode``);
- throughput: 16 concurrent clients against one sequential client;
- cold start: ``citeqa serve`` on an existing index until ``/readyz`` answers 200;
- ingest: tokens/s of a full ingest of the seeds against the bare forward pass over the same chunks;
- memory: resident set of the serving process (``/proc/PID/status``);
- scale: the vector store at 100k synthetic vectors against exact search (``--scale N`` runs
  the storage backends at N chunks instead: see :mod:`eval.bench.scale_backends`);
- fidelity: ONNX int8 and fp32 vectors against torch, and retrieval metrics with each.

It is a benchmark, not a test: nothing here asserts a time. ``--quick`` runs every step on tiny
repetitions for the smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.bench.measure import (
    ENV,
    FALLBACK_QUESTIONS,
    REPO_ROOT,
    Plan,
    load_questions,
    p50_ms,
    retrieval_metrics,
    seed_chunks,
    timed,
)
from eval.bench.server import bench_server
from eval.bench.table import print_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``bench``."""
    parser = sub.add_parser(
        "bench",
        help="measure latency, throughput, cold start, ingest, memory and scale",
        description=(
            "Benchmark the query path, throughput, cold start, ingest, memory and vector-store "
            "scale against baselines measured in the same run; prints a table, optionally JSON."
        ),
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    parser.add_argument(
        "--scale",
        type=int,
        nargs="?",
        const=100_000,
        default=None,
        metavar="N",
        help="instead: the storage backends at N chunks (default 100000), one table by backend",
    )
    parser.add_argument(
        "--backend",
        action="append",
        default=None,
        help="with --scale: a backend to measure (repeatable; default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny repetitions (smoke test)")
    parser.add_argument(
        "--server-embedder",
        choices=("onnx", "torch"),
        default="onnx",
        help="embedder of the served process (CITEQA_EMBEDDER; default %(default)s)",
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--seeds", type=Path, default=REPO_ROOT / "seeds", help="corpus to ingest and serve"
    )
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="only the scale-out figures: the Postgres store at --scale chunks (needs "
        "--database-url) and /search throughput at 1/4/16 clients with 1 and 2 workers",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CITEQA_DATABASE_URL"),
        help="--scale-out: a dedicated database (its citeqa tables are emptied)",
    )
    parser.add_argument(
        "--llm",
        action="store_true",
        help="only the LLM streaming bench (CITEQA_LLM_MODEL / CITEQA_LLM_API_BASE)",
    )
    parser.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    if args.llm:
        from eval.bench.llm_stream import llm_bench, print_llm_bench
        from service.settings import Settings

        result = llm_bench(Settings())
        print_llm_bench(result)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    if args.scale_out:
        return scale_out_command(args)
    quick = bool(args.quick)
    if args.scale is not None:
        from eval.bench.scale_backends import BACKENDS, scale_command

        names = args.backend or list(BACKENDS)
        return scale_command(int(args.scale), names, quick=quick, json_path=args.json)
    plan = Plan(
        encode_reps=10 if quick else 200,
        http_reps=5 if quick else 200,
        ask_reps=3 if quick else 60,
        concurrent_requests=32 if quick else 800,
        clients=4 if quick else int(args.clients),
        scale=2000 if quick else 100_000,
        questions=5 if quick else 1000,
        chunks=8 if quick else 100_000,
    )
    results = run_bench(plan, seeds=args.seeds, server_embedder=args.server_embedder)
    results["quick"] = quick
    print_table(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        from index.storage.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.json}")
    return 0


def scale_out_command(args: argparse.Namespace) -> int:
    """``citeqa bench --scale-out``: Postgres store figures, then workers' throughput."""
    from rich.console import Console

    from eval.bench.pg_scale import benchmark_pg_scale, benchmark_workers

    console = Console(stderr=True)
    quick = bool(args.quick)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "quick": quick}
    results["machine"]["loadavg_start"] = list(os.getloadavg())
    url = args.database_url
    if url:
        n = int(args.scale) if args.scale is not None else (2000 if quick else 100_000)
        console.log(f"Postgres store at {n} synthetic chunks")
        results["postgres_store"] = benchmark_pg_scale(url, n, n_queries=20 if quick else 200)
    questions = [q["question"] for q in load_questions()] or list(FALLBACK_QUESTIONS)
    requests = 40 if quick else 400
    with tempfile.TemporaryDirectory(prefix="citeqa-bench-") as tmp:
        for name, db in (("embedded", None), ("postgres", url)):
            if name == "postgres" and not url:
                continue
            console.log(f"/search throughput over {name}, 1 and 2 workers")
            results[f"workers_{name}"] = benchmark_workers(
                args.seeds,
                questions,
                database_url=_serving_database(db) if db else None,
                clients=(1, 4) if quick else (1, 4, 16),
                requests=requests,
                warmup=requests // 2,
                workdir=Path(tmp) / name,
            )
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    print(json.dumps(results, indent=2, sort_keys=True))
    if args.json is not None:
        from index.storage.atomic import atomic_write_text

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


def _serving_database(url: str) -> str:
    """A database beside ``url`` for serving the seeds (the store bench's one holds synthetic
    vectors of another "model"): ``<name>_serve``, created when missing."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_serve"
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
        else:
            with psycopg.connect(urlunsplit(parts._replace(path=f"/{name}"))) as target:
                target.execute(
                    "DROP TABLE IF EXISTS citeqa_meta, documents, chunks, terms, "
                    "corpus_stats, claimed_keys CASCADE"
                )
    return urlunsplit(parts._replace(path=f"/{name}"))


# -- the run ----------------------------------------------------------------------------------


def run_bench(plan: Plan, *, seeds: Path, server_embedder: str) -> dict[str, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_start": list(os.getloadavg())},
        "plan": plan.__dict__,
    }
    questions = load_questions()[: plan.questions]
    short = [q["question"] for q in questions] or list(FALLBACK_QUESTIONS)

    with tempfile.TemporaryDirectory(prefix="citeqa-bench-") as tmp:
        index_dir = Path(tmp) / "index"
        console.log("loading the torch model (baseline)")
        from index.embedders.torch_embedder import SentenceTransformerEmbedder

        torch_embedder = SentenceTransformerEmbedder()
        console.log("ONNX export (cached after the first run)")
        from index.embedders.onnx_embedder import OnnxEmbedder
        from index.embedders.onnx_export import DEFAULT_CACHE_DIR, ensure_exported, read_export

        had_export = read_export(DEFAULT_CACHE_DIR) is not None
        t0 = time.perf_counter()
        ensure_exported(DEFAULT_CACHE_DIR)
        out["onnx_export"] = {
            "cached": had_export,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        onnx = {v: OnnxEmbedder.from_cache(variant=v) for v in ("fp32", "int8")}

        console.log("encode latency: torch vs ONNX fp32 vs ONNX int8")
        model = torch_embedder.model
        out["encode"] = {
            "torch_p50_ms": p50_ms(lambda q: model.encode(q), short, plan.encode_reps),
            "onnx_fp32_p50_ms": p50_ms(onnx["fp32"].embed_query, short, plan.encode_reps),
            "onnx_int8_p50_ms": p50_ms(onnx["int8"].embed_query, short, plan.encode_reps),
        }
        # The same bare model on one thread: on a busy 2-core machine torch's default two
        # OpenMP threads wait on each other, so this is the fairer like-for-like figure.
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            out["encode"]["torch_1thread_p50_ms"] = p50_ms(
                lambda q: model.encode(q), short, plan.encode_reps
            )
        finally:
            torch.set_num_threads(threads)

        console.log("ingest: full index build vs the bare forward pass")
        # --quick times a few chunks only; the full run uses every seed chunk.
        chunks = seed_chunks(seeds)[: plan.chunks]
        from index.corpus import CorpusIndex, build_index

        report = build_index([seeds], index_dir, torch_embedder)
        n_tokens = onnx["fp32"].count_tokens(chunks)
        bare_s = timed(lambda: model.encode(chunks, batch_size=32, show_progress_bar=False))
        fp32_s = timed(lambda: onnx["fp32"].embed_documents(chunks))
        int8_s = timed(lambda: onnx["int8"].embed_documents(chunks))
        ingest_tps = report.tokens / report.seconds if report.seconds else 0.0
        bare_tps = n_tokens / bare_s
        # The same full build through the ONNX embedder (fp32 documents, as served).
        from index.embedders.onnx_embedder import load_onnx_embedder

        onnx_report = build_index([seeds], Path(tmp) / "index-onnx", load_onnx_embedder())
        onnx_tps = onnx_report.tokens / onnx_report.seconds if onnx_report.seconds else 0.0
        out["ingest"] = {
            "chunks": report.chunks,
            "tokens": report.tokens,
            "seconds": round(report.seconds, 3),
            "tokens_per_s": round(ingest_tps, 1),
            "bare_forward_tokens_per_s": round(bare_tps, 1),
            "ratio": round(ingest_tps / bare_tps, 3),
            "onnx_build_tokens_per_s": round(onnx_tps, 1),
            "onnx_build_ratio": round(onnx_tps / bare_tps, 3),
            "onnx_fp32_tokens_per_s": round(n_tokens / fp32_s, 1),
            "onnx_int8_tokens_per_s": round(n_tokens / int8_s, 1),
        }

        console.log("PDF ingest: pages/s and the share spent extracting text")
        from eval.bench.pdf_ingest import bench_pdf_ingest

        out["pdf_ingest"] = bench_pdf_ingest(
            seeds, torch_embedder, copies=1 if plan.chunks < 1000 else 3
        )

        console.log("fidelity: ONNX vectors vs torch, retrieval with each query encoder")
        texts = chunks + short
        reference = torch_embedder.embed_documents(texts)
        fidelity: dict[str, Any] = {"n_texts": len(texts)}
        for variant, embedder in onnx.items():
            cos = (embedder.embed_documents(texts) * reference).sum(axis=1)
            fidelity[f"{variant}_cos_mean"] = round(float(cos.mean()), 5)
            fidelity[f"{variant}_cos_min"] = round(float(cos.min()), 5)
        out["fidelity"] = fidelity
        retrieval: dict[str, Any] = {"n_questions": len(questions)}
        if questions:
            for name, query_embedder in (
                ("torch", torch_embedder),
                ("onnx_fp32", onnx["fp32"]),
                ("onnx_int8", onnx["int8"]),
            ):
                index = CorpusIndex.open(index_dir, query_embedder)
                for mode in ("dense", "hybrid"):
                    retrieval[f"{name}_{mode}"] = retrieval_metrics(index, questions, mode)
            import faiss

            # As the server does (service/http/lifecycle.py): one OpenMP thread per search.
            faiss.omp_set_num_threads(1)
            inproc = CorpusIndex.open(index_dir, onnx["int8"])
            out["inprocess_search_int8_p50_ms"] = p50_ms(
                lambda q: inproc.search(q, top_k=5), short, plan.encode_reps
            )
        out["retrieval"] = retrieval

        console.log("serving: cold start, /search, /ask, throughput, memory")
        out["serve"] = bench_server(plan, index_dir, short, server_embedder)
        bare = out["encode"]["torch_p50_ms"]
        serve = out["serve"]
        if serve.get("search_p50_ms"):
            serve["search_over_bare"] = round(serve["search_p50_ms"] / bare, 3)
        if serve.get("ask_p50_ms"):
            serve["ask_over_bare"] = round(serve["ask_p50_ms"] / bare, 3)
        # Against torch on one thread too: on a busy machine the default's two OpenMP threads
        # inflate the baseline, and the targets should hold against the stricter one.
        bare1 = out["encode"]["torch_1thread_p50_ms"]
        for key in ("search", "ask"):
            if serve.get(f"{key}_p50_ms"):
                serve[f"{key}_over_bare_1thread"] = round(serve[f"{key}_p50_ms"] / bare1, 3)

    console.log(f"vector store at {plan.scale} synthetic vectors")
    from eval.bench.scale import benchmark_scale

    out["scale"] = benchmark_scale(
        plan.scale, n_queries=50 if plan.scale < 10_000 else 200
    ).as_dict()
    out["machine"]["loadavg_end"] = list(os.getloadavg())
    return out
