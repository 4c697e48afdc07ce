"""The served process of ``citeqa bench`` and the load tool: ``citeqa serve`` in a subprocess on
a free loopback port, driven through :class:`~service.client.CiteqaClient`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.measure import ENV, REPO_ROOT, Plan, p50_ms
from index.errors import CiteqaError
from service.client import CiteqaClient


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    """Resident set of a process from /proc (psutil is not a dependency)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@contextmanager
def serve_process(
    index_dir: Path,
    *,
    embedder: str | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    ready_timeout_s: float = 180.0,
    workers: int = 1,
) -> Iterator[Served]:
    """``citeqa serve`` on a free loopback port over ``index_dir``, rate limit lifted, until
    ``/readyz`` answers 200; stopped (SIGTERM, then kill) when the block ends.

    Its log goes to ``log_path`` or a temporary file, never an undrained pipe, which would block
    the server once full; the log's tail is in the error when the server does not come up.
    """
    port = free_port()
    full_env = {
        **os.environ,
        **ENV,
        "CITEQA_INDEX_DIR": str(index_dir),
        "CITEQA_RATE_LIMIT_PER_MINUTE": "100000000",  # a load is one very busy client
        "CITEQA_API_KEYS": "",
        **({"CITEQA_EMBEDDER": embedder} if embedder else {}),
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--log-level", "warning", "--workers", str(workers)]
    with contextlib.ExitStack() as stack:
        log = (
            stack.enter_context(log_path.open("w+b"))
            if log_path is not None
            else stack.enter_context(tempfile.TemporaryFile())
        )
        started = time.perf_counter()
        # Our own interpreter running our own CLI, with arguments built above.
        proc = subprocess.Popen(  # noqa: S603
            cmd, env=full_env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            ready_s = _wait_ready(proc, port, started, ready_timeout_s)
            if ready_s >= 0 and workers > 1:
                ready_s = _wait_all_ready(proc, port, started, ready_timeout_s, workers)
            if ready_s < 0:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"citeqa serve did not become ready: {tail}")
            yield Served(proc, f"http://127.0.0.1:{port}", ready_s)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass(frozen=True)
class Served:
    """A running ``citeqa serve``: its process, base URL and seconds it took to be ready."""

    proc: subprocess.Popen[bytes]
    base_url: str
    ready_s: float


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, started: float, timeout_s: float
) -> float:
    """Seconds from ``started`` until /readyz was 200, or -1 if the process died or hung."""
    deadline = started + timeout_s
    with CiteqaClient(f"http://127.0.0.1:{port}") as client:
        while time.perf_counter() < deadline and proc.poll() is None:
            if client.is_ready():
                return time.perf_counter() - started
            time.sleep(0.02)
    return -1.0


def _wait_all_ready(
    proc: subprocess.Popen[bytes], port: int, started: float, timeout_s: float, workers: int
) -> float:
    """Like ``_wait_ready`` for several workers: /readyz is 200 on many fresh connections in a
    row (each may reach any worker), so every worker has loaded."""
    import httpx

    deadline = started + timeout_s
    in_a_row = 0
    while time.perf_counter() < deadline and proc.poll() is None:
        try:
            ok = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        in_a_row = in_a_row + 1 if ok else 0
        if in_a_row >= 10 * workers:
            return time.perf_counter() - started
        time.sleep(0.01)
    return -1.0


def bench_server(
    plan: Plan, index_dir: Path, questions: Sequence[str], embedder: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"embedder": embedder}
    try:
        with serve_process(index_dir, embedder=embedder) as served:
            proc = served.proc
            out["cold_start_s"] = round(served.ready_s, 3)
            out["rss_mb_ready"] = rss_mb(proc.pid)
            client = CiteqaClient(served.base_url)

            def search(q: str) -> None:
                client.call("POST", "/search", {"query": q, "top_k": 5})

            def ask(q: str) -> None:
                client.call("POST", "/ask", {"question": q, "top_k": 5})

            def health(_: str) -> None:
                client.request("GET", "/healthz")

            # The HTTP floor: a route that does no work, through the same middlewares.
            out["healthz_p50_ms"] = p50_ms(health, questions, plan.http_reps)
            out["search_p50_ms"] = p50_ms(search, questions, plan.http_reps)
            out["ask_p50_ms"] = p50_ms(ask, questions, plan.ask_reps)
            from eval.bench.history import bench_history

            out["history"] = bench_history(client, max(plan.ask_reps // 6, 1))
            client.close()
            seq_rps, _ = throughput(
                served.base_url, questions, 1, max(plan.concurrent_requests // 4, 8)
            )
            conc_rps, errors = throughput(
                served.base_url, questions, plan.clients, plan.concurrent_requests
            )
            out["sequential_rps"] = round(seq_rps, 1)
            out["concurrent_rps"] = round(conc_rps, 1)
            out["clients"] = plan.clients
            out["throughput_ratio"] = round(conc_rps / seq_rps, 3) if seq_rps else 0.0
            out["errors"] = errors
            out["rss_mb_after_load"] = rss_mb(proc.pid)
    except (RuntimeError, OSError, CiteqaError) as exc:
        out["error"] = str(exc)
    return out


def throughput(
    base_url: str, questions: Sequence[str], clients: int, total: int
) -> tuple[float, int]:
    """Requests per second of ``/search`` with ``clients`` keep-alive connections."""
    counter = iter(range(total))
    lock = threading.Lock()
    errors = 0

    def worker() -> None:
        nonlocal errors
        with CiteqaClient(base_url) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = {"query": questions[i % len(questions)]}
                if client.request("POST", "/search", body).status_code != 200:
                    with lock:
                        errors += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total / (time.perf_counter() - started), errors
