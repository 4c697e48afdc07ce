"""The HTTP service on a real uvicorn server over loopback: httpx clients, concurrency, SSE,
graceful shutdown on SIGTERM (subprocess) and ``citeqa serve`` end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from service.http.app import create_app
from service.settings import Settings
from tests.fakes import FakeAnswerer, FakeDocumentFactory, fake_parts, live_server

REPO = Path(__file__).resolve().parent.parent
QUESTION = "How many North Korean troops were sent to Russia?"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeAnswerer]]:
    index, pipeline = fake_parts()
    settings = Settings(index_dir=Path("/nonexistent"), rate_limit_per_minute=100_000)
    app = create_app(
        settings, index=index, pipeline=pipeline, document_factory=FakeDocumentFactory()
    )
    with live_server(app) as url:
        yield url, pipeline


def test_ask_search_documents_over_http(server: tuple[str, FakeAnswerer]) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.post("/ask", json={"question": QUESTION}, headers={"X-Request-ID": "live-1"})
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "live-1"
        assert r.json()["citations"]
        assert not r.json()["abstained"]
        assert c.post("/search", json={"query": "Kursk"}).json()["hits"]
        r = c.post("/documents", files={"file": ("live.txt", b"Live doc\nQuokkas in Perth.")})
        assert r.status_code == 201
        assert c.get("/documents/live").status_code == 200
        assert c.delete("/documents/live").status_code == 200
        assert c.get("/readyz").json()["status"] == "ready"
        assert "citeqa_http_requests_total" in c.get("/metrics").text


def test_sse_arrives_as_a_stream(server: tuple[str, FakeAnswerer]) -> None:
    url, _ = server
    events: list[str] = []
    with (
        httpx.Client(base_url=url, timeout=10) as c,
        c.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
    assert events[0] == "delta"
    assert events[-2:] == ["citations", "done"]


def test_body_limit_over_socket(server: tuple[str, FakeAnswerer]) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.post("/ask", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "text/x"})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"


def test_concurrent_requests_are_correct_and_overlap(server: tuple[str, FakeAnswerer]) -> None:
    url, pipeline = server
    questions = [
        "Kursk region North Korean troops",
        "air superiority arsenal",
        "Ukraine internationalize the conflict foreign volunteers",
        "South Korean intelligence estimates",
    ]
    expected = {q: pipeline.answer(q).answer for q in questions}
    pipeline.delay = 0.2
    results: dict[int, tuple[str, Any]] = {}

    async def one(client: httpx.AsyncClient, i: int) -> None:
        q = questions[i % len(questions)]
        r = await client.post("/ask", json={"question": q})
        results[i] = (q, r)

    async def main() -> float:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            t0 = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(one, client, i)
            return time.perf_counter() - t0

    try:
        elapsed = anyio.run(main)
    finally:
        pipeline.delay = 0.0
    assert len(results) == 20
    for q, r in results.values():
        assert r.status_code == 200
        assert r.json()["answer"] == expected[q]
    # 20 x 200 ms sequentially would be 4 s; in worker threads they overlap.
    assert elapsed < 2.5


def test_health_answers_while_answers_are_computing(server: tuple[str, FakeAnswerer]) -> None:
    url, pipeline = server
    pipeline.delay = 1.0
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            t = threading.Thread(target=lambda: c.post("/ask", json={"question": QUESTION}))
            t.start()
            time.sleep(0.2)
            t0 = time.perf_counter()
            assert httpx.get(f"{url}/healthz").status_code == 200
            assert time.perf_counter() - t0 < 0.5  # the event loop is not blocked
            t.join()
    finally:
        pipeline.delay = 0.0


# ---- graceful shutdown ------------------------------------------------------------------------

_SLOW_SERVER = """
import sys
from pathlib import Path
from service.http.app import create_app
from service.http.command import run_server
from service.settings import Settings
from tests.fakes import FakeAnswerer, seed_fake_index

index = seed_fake_index()
app = create_app(Settings(index_dir=Path("/nonexistent")), index=index,
                 pipeline=FakeAnswerer(index, delay=2.0))
run_server(app, "127.0.0.1", int(sys.argv[1]), graceful_s=20)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float, status: int = 200) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == status:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s")


def test_sigterm_drains_in_flight_request() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_SERVER, str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/readyz", 30)
        result: dict[str, Any] = {}

        def slow_request() -> None:
            r = httpx.post(f"{url}/ask", json={"question": QUESTION}, timeout=30)
            result["status"] = r.status_code
            result["body"] = r.json()

        t = threading.Thread(target=slow_request)
        t.start()
        time.sleep(0.7)  # the request is now inside the 2 s pipeline call
        proc.send_signal(signal.SIGTERM)
        t.join(timeout=30)
        assert result["status"] == 200
        assert result["body"]["citations"]
        # uvicorn re-raises the signal once drained, so the exit status is "killed by SIGTERM".
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_citeqa_serve_end_to_end(seed_index_dir: Path, tmp_path: Path) -> None:
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    port = free_port()
    proc = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "citeqa"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--index-dir",
            str(index_dir),
        ],
        cwd=tmp_path,
        env={**os.environ, "CITEQA_API_KEYS": "serve-key"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer serve-key"}
    try:
        t0 = time.monotonic()
        wait_for(f"{url}/healthz", 30)
        healthz_s = time.monotonic() - t0
        wait_for(f"{url}/readyz", 120)
        r = httpx.post(f"{url}/ask", json={"question": QUESTION}, headers=auth, timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        assert not body["abstained"]
        assert body["citations"]
        assert httpx.post(f"{url}/ask", json={"question": QUESTION}).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
    access = [ln for ln in lines if ln.get("logger") == "citeqa.http.access"]
    assert any(ln["route"] == "/ask" and ln["status"] == 200 and ln["request_id"] for ln in access)
    assert "serve-key" not in err
    assert healthz_s < 15
