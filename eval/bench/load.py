"""Load test of the HTTP service on loopback, next to the same calls made in-process.

Starts ``citeqa serve`` as a subprocess on a free port over an existing index (building one from the
seeds when asked), fires N requests at C concurrent clients at ``/search`` and ``/ask``, then times
the same calls in-process, and prints throughput and p50/p95 with the HTTP/in-process ratio::

    python -m eval.bench.load --index-dir .citeqa/index --requests 2000 --concurrency 20 \\
        --json reports/load.json

Questions come from the gold set (``eval/gold.jsonl``), cycled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eval.aggregate import percentile
from eval.bench.server import serve_process
from index.errors import CiteqaError
from service.client import AsyncCiteqaClient

GOLD = Path(__file__).resolve().parents[1] / "gold.jsonl"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LoadResult:
    """Latency and throughput of one run (latencies in milliseconds)."""

    label: str
    requests: int
    concurrency: int
    errors: int
    seconds: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    status_counts: dict[str, int]


def summarise(
    label: str, latencies: Sequence[float], seconds: float, concurrency: int, statuses: list[int]
) -> LoadResult:
    counts: dict[str, int] = {}
    for s in statuses:
        counts[str(s)] = counts.get(str(s), 0) + 1
    errors = sum(n for s, n in counts.items() if not s.startswith("2"))
    return LoadResult(
        label=label,
        requests=len(statuses),
        concurrency=concurrency,
        errors=errors,
        seconds=round(seconds, 3),
        throughput_rps=round(len(statuses) / seconds, 2) if seconds else 0.0,
        p50_ms=round(statistics.median(latencies) * 1000, 2) if latencies else float("nan"),
        p95_ms=round(percentile(latencies, 95) * 1000, 2) if latencies else float("nan"),
        status_counts=counts,
    )


def load_questions(path: Path = GOLD) -> list[str]:
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            questions.append(str(json.loads(line)["question"]))
    return questions


async def _http_run(
    base_url: str,
    path: str,
    bodies: Sequence[dict[str, Any]],
    concurrency: int,
    api_key: str | None,
) -> tuple[list[float], list[int], float]:
    latencies: list[float] = []
    statuses: list[int] = []
    next_index = 0

    async def worker(client: AsyncCiteqaClient) -> None:
        nonlocal next_index
        while next_index < len(bodies):
            body = bodies[next_index]
            next_index += 1
            t0 = time.perf_counter()
            try:
                r = await client.post(path, body)
                statuses.append(r.status_code)
            except CiteqaError:
                statuses.append(599)
            latencies.append(time.perf_counter() - t0)

    client = AsyncCiteqaClient(
        base_url, api_key=api_key, timeout_s=120, max_connections=concurrency
    )
    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    finally:
        await client.aclose()
    return latencies, statuses, seconds


def http_load(
    base_url: str,
    path: str,
    bodies: Sequence[dict[str, Any]],
    concurrency: int,
    api_key: str | None = None,
) -> LoadResult:
    """Sends every body to ``path`` with ``concurrency`` clients over keep-alive connections."""
    latencies, statuses, seconds = asyncio.run(
        _http_run(base_url, path, bodies, concurrency, api_key)
    )
    return summarise(f"HTTP {path} c={concurrency}", latencies, seconds, concurrency, statuses)


def in_process(label: str, func: Callable[[str], object], questions: Sequence[str]) -> LoadResult:
    """Times ``func(question)`` sequentially in this process."""
    latencies = []
    started = time.perf_counter()
    for q in questions:
        t0 = time.perf_counter()
        func(q)
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    return summarise(label, latencies, seconds, 1, [200] * len(questions))


def run(index_dir: Path, n_requests: int, concurrency: int, warmup: int = 20) -> dict[str, Any]:
    """The whole comparison; returns a JSON-ready report."""
    from service import wiring
    from service.settings import Settings

    questions = load_questions()
    bodies_search = [{"query": questions[i % len(questions)]} for i in range(n_requests)]
    bodies_ask = [{"question": questions[i % len(questions)]} for i in range(n_requests)]
    log_path = Path(tempfile.gettempdir()) / f"citeqa-load-serve-{os.getpid()}.log"
    print(f"server log: {log_path}", file=sys.stderr)
    results: list[LoadResult] = []
    with serve_process(index_dir, log_path=log_path) as served:
        base_url, ready_s = served.base_url, served.ready_s
        http_load(base_url, "/search", bodies_search[:warmup], 1)
        http_load(base_url, "/ask", bodies_ask[:warmup], 1)
        n_seq = min(n_requests, 200)
        results.append(http_load(base_url, "/search", bodies_search[:n_seq], 1))
        results.append(http_load(base_url, "/search", bodies_search, concurrency))
        results.append(http_load(base_url, "/ask", bodies_ask[:n_seq], 1))
        results.append(http_load(base_url, "/ask", bodies_ask, concurrency))

    settings = Settings(index_dir=index_dir)
    index = wiring.open_index(settings, index_dir=index_dir, build_from_seeds=False)
    pipeline = wiring.build_answerer(settings, index)
    seq = [questions[i % len(questions)] for i in range(min(n_requests, 200))]
    for q in seq[:warmup]:
        pipeline.answer(q)
    results.append(
        in_process(
            "in-process search",
            lambda q: index.search(q, top_k=settings.top_k, mode=settings.retrieval),
            seq,
        )
    )
    results.append(in_process("in-process answer", pipeline.answer, seq))
    by = {r.label: r for r in results}
    c = concurrency
    ratios = {
        "search_p50_http_c1_over_inproc": by["HTTP /search c=1"].p50_ms
        / by["in-process search"].p50_ms,
        "ask_p50_http_c1_over_inproc": by["HTTP /ask c=1"].p50_ms / by["in-process answer"].p50_ms,
        f"search_rps_http_c{c}_over_inproc": by[f"HTTP /search c={c}"].throughput_rps
        / by["in-process search"].throughput_rps,
        f"ask_rps_http_c{c}_over_inproc": by[f"HTTP /ask c={c}"].throughput_rps
        / by["in-process answer"].throughput_rps,
    }
    return {
        "ready_seconds": round(ready_s, 2),
        "results": [asdict(r) for r in results],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
    }


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"citeqa load test (ready in {report['ready_seconds']} s)")
    for col in ("run", "requests", "errors", "seconds", "req/s", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in report["results"]:
        table.add_row(
            r["label"],
            str(r["requests"]),
            str(r["errors"]),
            f"{r['seconds']:.2f}",
            f"{r['throughput_rps']:.1f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
        )
    console = Console()
    console.print(table)
    for name, value in report["ratios"].items():
        console.print(f"{name}: {value:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench.load", description=__doc__)
    parser.add_argument("--index-dir", type=Path, default=Path(".citeqa/index"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    # Same threading as `citeqa serve` (see service/http/command.py), so in-process is comparable.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not (args.index_dir / "manifest.json").exists():
        from service import wiring
        from service.settings import Settings

        print(f"building an index of the seeds in {args.index_dir} ...", file=sys.stderr)
        wiring.ingest(Settings(), [REPO / "seeds"], index_dir=args.index_dir)
    report = run(args.index_dir, args.requests, args.concurrency)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    errors = sum(r["errors"] for r in report["results"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
