"""``citeqa serve --workers 2`` on both backends: a document added through one worker is found
by every worker within a second (the database's natural state; the embedded index reloads when
its manifest's version changes), and a delete propagates the same way."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from eval.bench.server import serve_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTE = {
    "id": "quokka-note",
    "title": "Quokka festival",
    "text": "The quokka festival took place in Perth on 3 March, with 4,000 visitors.",
}


def _top_doc(base_url: str) -> str | None:
    # A fresh connection per request, so requests spread over the workers.
    response = httpx.post(
        f"{base_url}/search", json={"query": "quokka festival Perth", "top_k": 1}, timeout=30
    )
    response.raise_for_status()
    hits = response.json()["hits"]
    return hits[0]["doc_id"] if hits else None


def _staleness_s(base_url: str, expect_note: bool, timeout_s: float = 10.0) -> float:
    """Seconds from now until the last request that still saw the old corpus (0 if none did);
    returns once 20 requests in a row see the new one."""
    started = time.perf_counter()
    last_stale = 0.0
    in_a_row = 0
    while time.perf_counter() - started < timeout_s:
        sent = time.perf_counter() - started
        if (_top_doc(base_url) == NOTE["id"]) == expect_note:
            in_a_row += 1
            if in_a_row >= 20:
                return last_stale
        else:
            in_a_row = 0
            last_stale = sent
    raise AssertionError("the workers never agreed")


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
def test_postgres_and_embedded_workers_see_each_others_writes_within_a_second(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env: dict[str, Any] = {}
    if backend == "postgres":
        env["CITEQA_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    with serve_process(tmp_path / "index", env=env, workers=2) as served:
        assert _top_doc(served.base_url) != NOTE["id"]
        response = httpx.post(f"{served.base_url}/documents", json=NOTE, timeout=60)
        assert response.status_code == 201, response.text
        assert _staleness_s(served.base_url, expect_note=True) < 1.0
        response = httpx.delete(f"{served.base_url}/documents/{NOTE['id']}", timeout=60)
        assert response.status_code in (200, 204), response.text
        assert _staleness_s(served.base_url, expect_note=False) < 1.0
