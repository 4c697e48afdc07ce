"""Load test of the HTTP service on loopback, next to the same calls made in-process.

Starts ``citeqa serve`` as a subprocess on a free port over an existing index (building one from the
seeds when asked), fires N requests at C concurrent clients at ``/search`` and ``/ask``, then times
the same calls in-process, and prints throughput and p50/p95 with the HTTP/in-process ratio::

    python -m eval.load --index-dir .citeqa/index --requests 2000 --concurrency 20 \\
        --json reports/load.json

Questions come from the gold set (``eval/gold.jsonl``), cycled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

GOLD = Path(__file__).resolve().parent / "gold.jsonl"
REPO = Path(__file__).resolve().parent.parent


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


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


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
        p95_ms=round(percentile(latencies, 95) * 1000, 2),
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
    headers: dict[str, str],
) -> tuple[list[float], list[int], float]:
    import httpx

    latencies: list[float] = []
    statuses: list[int] = []
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < len(bodies):
            body = bodies[next_index]
            next_index += 1
            t0 = time.perf_counter()
            try:
                r = await client.post(path, json=body)
                statuses.append(r.status_code)
            except httpx.HTTPError:
                statuses.append(599)
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, limits=limits, headers=headers
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return latencies, statuses, seconds


def http_load(
    base_url: str,
    path: str,
    bodies: Sequence[dict[str, Any]],
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Sends every body to ``path`` with ``concurrency`` clients over keep-alive connections."""
    latencies, statuses, seconds = asyncio.run(
        _http_run(base_url, path, bodies, concurrency, headers or {})
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    index_dir: Path, port: int, env: dict[str, str] | None = None, log_path: Path | None = None
) -> Any:
    """``citeqa serve`` in a subprocess, with the rate limit lifted for the load.

    Its log goes to a file (never an undrained pipe, which would block the server once full).
    """
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="citeqa-serve-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    full_env = {**os.environ, "CITEQA_RATE_LIMIT_PER_MINUTE": "100000000", **(env or {})}
    # Our own interpreter and module with numeric/path arguments: no untrusted input.
    with log_path.open("ab") as log_file:
        return subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--port",
                str(port),
                "--index-dir",
                str(index_dir),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )


def wait_ready(base_url: str, timeout: float = 180.0) -> float:
    """Seconds until ``/readyz`` answers 200."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base_url} was not ready within {timeout}s")


def stop_server(proc: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(index_dir: Path, n_requests: int, concurrency: int, warmup: int = 20) -> dict[str, Any]:
    """The whole comparison; returns a JSON-ready report."""
    from index.corpus import CorpusIndex
    from index.embedding import load_default_embedder
    from service.pipeline import build_pipeline
    from service.settings import Settings

    questions = load_questions()
    bodies_search = [{"query": questions[i % len(questions)]} for i in range(n_requests)]
    bodies_ask = [{"question": questions[i % len(questions)]} for i in range(n_requests)]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"citeqa-load-serve-{port}.log"
    proc = start_server(index_dir, port, log_path=log_path)
    print(f"server log: {log_path}", file=sys.stderr)
    results: list[LoadResult] = []
    try:
        ready_s = wait_ready(base_url)
        http_load(base_url, "/search", bodies_search[:warmup], 1)
        http_load(base_url, "/ask", bodies_ask[:warmup], 1)
        n_seq = min(n_requests, 200)
        results.append(http_load(base_url, "/search", bodies_search[:n_seq], 1))
        results.append(http_load(base_url, "/search", bodies_search, concurrency))
        results.append(http_load(base_url, "/ask", bodies_ask[:n_seq], 1))
        results.append(http_load(base_url, "/ask", bodies_ask, concurrency))
    finally:
        stop_server(proc)

    settings = Settings(index_dir=index_dir)
    index = CorpusIndex.open(index_dir, load_default_embedder(kind=settings.embedder))
    pipeline = build_pipeline(settings, index)
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
    parser = argparse.ArgumentParser(prog="python -m eval.load", description=__doc__)
    parser.add_argument("--index-dir", type=Path, default=Path(".citeqa/index"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    # Same threading as `citeqa serve` (see service/http/cli.py), so in-process is comparable.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not (args.index_dir / "manifest.json").exists():
        from index.corpus import build_index
        from index.embedding import load_default_embedder

        print(f"building an index of the seeds in {args.index_dir} ...", file=sys.stderr)
        build_index([REPO / "seeds"], args.index_dir, load_default_embedder())
    report = run(args.index_dir, args.requests, args.concurrency)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    errors = sum(r["errors"] for r in report["results"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
