"""In-process tests of the HTTP API's behaviour with a fake index and pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.answering.conversation import Turn
from service.answering.types import Answer
from service.http.app import create_app
from service.settings import Settings
from tests.fakes import (
    FakeAnswerer,
    FakeDocumentFactory,
    FakeIndex,
    fake_parts,
    seed_fake_index,
)

QUESTION = "How many North Korean troops were sent to Russia?"


def make_client(tmp_path: Path, **overrides: object) -> tuple[TestClient, FakeIndex, FakeAnswerer]:
    index, pipeline = fake_parts()
    settings = Settings(index_dir=tmp_path / "idx", **overrides)  # type: ignore[arg-type]
    app = create_app(
        settings, index=index, pipeline=pipeline, document_factory=FakeDocumentFactory()
    )
    return TestClient(app, raise_server_exceptions=False), index, pipeline


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    c, _, _ = make_client(tmp_path)
    with c:
        yield c


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    events = []
    for frame in text.strip().split("\n\n"):
        event = None
        data = []
        for line in frame.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        events.append((event, "\n".join(data)))
    return events


def test_import_of_app_module_stays_light() -> None:
    code = (
        "import sys, service.http.app, service.http.command;"
        "heavy=[m for m in ('torch','sentence_transformers','litellm','faiss','uvicorn')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_ask_returns_answer_dict_with_citations(client: TestClient) -> None:
    r = client.post("/ask", json={"question": QUESTION, "top_k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["abstained"] is False
    assert "[1]" in body["answer"]
    cit = body["citations"][0]
    assert set(cit) >= {"doc_id", "chunk_id", "quote", "start", "end", "title"}
    seed = (Path("seeds") / f"{cit['doc_id']}.txt").read_text(encoding="utf-8")
    assert seed[cit["start"] : cit["end"]] == cit["quote"]
    assert body["index_version"].startswith("fake-")
    assert r.headers["content-type"].startswith("application/json")


def test_ask_abstains_for_unrelated_question(client: TestClient) -> None:
    r = client.post("/ask", json={"question": "What is the recipe for banana bread?"})
    assert r.status_code == 200
    assert r.json()["abstained"] is True
    assert r.json()["citations"] == []


def test_ask_filters_restrict_documents(client: TestClient) -> None:
    doc = "003_f3496298b4f174d5"
    r = client.post("/ask", json={"question": QUESTION, "filters": {"doc_id": [doc]}})
    assert r.status_code == 200
    assert {c["doc_id"] for c in r.json()["retrieved"]} <= {doc}


@pytest.mark.parametrize("how", ["flag", "accept"])
def test_ask_streams_server_sent_events(client: TestClient, how: str) -> None:
    if how == "flag":
        r = client.post("/ask", json={"question": QUESTION, "stream": True})
    else:
        r = client.post(
            "/ask", json={"question": QUESTION}, headers={"Accept": "text/event-stream"}
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [e for e, _ in events]
    assert names[-2:] == ["citations", "done"]
    assert set(names[:-2]) == {"delta"}
    assert len(names) > 3
    text = "".join(json.loads(d)["text"] for e, d in events if e == "delta")
    done = json.loads(events[-1][1])
    assert text == done["answer"]
    assert json.loads(events[-2][1])["citations"] == done["citations"]


def test_search_returns_ranked_hits(client: TestClient) -> None:
    r = client.post("/search", json={"query": "Kursk region troops", "top_k": 4})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert 1 <= len(hits) <= 4
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert set(hits[0]) == {"doc_id", "chunk_id", "score", "start", "end", "text", "title", "rank"}
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_documents_crud_json(client: TestClient) -> None:
    before = client.get("/documents").json()
    assert before["total"] == 5
    text = "Zorblat Festival\nThe zorblat festival takes place every April in Quuxville."
    r = client.post("/documents", json={"id": "zorblat", "text": text, "source": "test"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "zorblat"
    assert r.json()["chunks"] >= 1
    assert r.json()["index_version"] != before["index_version"]
    got = client.get("/documents/zorblat").json()
    assert got["text"] == text
    assert got["title"] == "Zorblat Festival"
    assert got["source"] == "test"
    # The new document is searchable and answerable at once, without a restart.
    ans = client.post("/ask", json={"question": "When is the zorblat festival in Quuxville?"})
    assert ans.json()["citations"][0]["doc_id"] == "zorblat"
    assert client.get("/documents").json()["total"] == 6
    r = client.delete("/documents/zorblat")
    assert r.status_code == 200
    assert r.json()["deleted"] is True
    assert client.get("/documents/zorblat").status_code == 404
    ans = client.post("/ask", json={"question": "When is the zorblat festival in Quuxville?"})
    assert ans.json()["abstained"] is True


def test_documents_multipart_upload(client: TestClient) -> None:
    data = b"Glimmer Report\nThe glimmer bridge opened in Snarkton in 1999."
    r = client.post(
        "/documents",
        files={"file": ("glimmer.txt", data, "text/plain")},
        data={"title": "Glimmer"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "glimmer"
    assert r.json()["title"] == "Glimmer"
    assert client.get("/documents/glimmer").json()["text"] == data.decode()


def test_documents_pagination(client: TestClient) -> None:
    r = client.get("/documents", params={"limit": 2, "offset": 1})
    body = r.json()
    assert body["total"] == 5
    assert len(body["documents"]) == 2
    all_ids = [d["id"] for d in client.get("/documents").json()["documents"]]
    assert [d["id"] for d in body["documents"]] == all_ids[1:3]


def test_health_ready_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["documents"] == 5
    assert ready["chunks"] > 5
    client.post("/ask", json={"question": QUESTION})
    client.post("/ask", json={"question": "What is the recipe for banana bread?"})
    client.post("/search", json={"query": "x"})
    client.get("/documents/nope")
    text = client.get("/metrics").text
    assert 'citeqa_http_requests_total{method="POST",route="/ask",status="200"} 2.0' in text
    assert 'route="/documents/{doc_id}",status="404"' in text
    assert 'citeqa_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/ask"}' in (
        text
    )
    assert 'citeqa_answers_abstained_total{endpoint="ask"} 1.0' in text
    assert "citeqa_index_documents 5.0" in text
    assert "citeqa_generator_errors_total 0.0" in text


def test_docs_and_openapi_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/ask", "/search", "/documents", "/documents/{doc_id}", "/v1/chat/completions"} <= set(
        paths
    )


def test_request_id_generated_or_kept(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    kept = client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
    assert kept == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"


def test_access_log_is_structured_with_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    from service.http.logs import JsonFormatter

    with caplog.at_level("INFO", logger="citeqa.http.access"):
        client.post("/search", json={"query": "Kursk"}, headers={"X-Request-ID": "rid-42"})
    records = [r for r in caplog.records if r.name == "citeqa.http.access"]
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "rid-42"
    assert line["route"] == "/search"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["method"] == "POST"


def test_concurrent_questions_get_their_own_answers(tmp_path: Path) -> None:
    c, _index, pipeline = make_client(tmp_path)
    pipeline.delay = 0.05
    questions = [
        "Kursk region North Korean troops",
        "air superiority arsenal",
        "Ukraine internationalize the conflict foreign volunteers",
        "South Korean intelligence estimates",
    ] * 4
    expected = {q: pipeline.answer(q).answer for q in set(questions)}
    assert len(set(expected.values())) == 4
    with c, ThreadPoolExecutor(8) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(lambda q: (q, c.post("/ask", json={"question": q})), questions))
        elapsed = time.perf_counter() - t0
    for q, r in results:
        assert r.status_code == 200
        assert r.json()["answer"] == expected[q]
    # 16 requests of 50 ms each: run in worker threads, not one after another on the loop.
    assert elapsed < 16 * 0.05


def test_documents_change_while_questions_run(tmp_path: Path) -> None:
    c, index, _ = make_client(tmp_path, rate_limit_per_minute=100_000)
    index.write_delay = 0.01
    errors: list[str] = []
    with c, ThreadPoolExecutor(6) as pool:

        def ask_loop() -> None:
            for _ in range(15):
                r = c.post("/ask", json={"question": QUESTION})
                if r.status_code != 200 or r.json()["abstained"]:
                    errors.append(f"ask {r.status_code} {r.text[:100]}")

        def write_loop() -> None:
            for i in range(10):
                doc = {"id": f"tmp{i}", "text": f"Temporary note {i} about Kursk and troops."}
                if c.post("/documents", json=doc).status_code != 201:
                    errors.append("post")
                if c.delete(f"/documents/tmp{i}").status_code != 200:
                    errors.append("delete")

        futures = [pool.submit(ask_loop) for _ in range(4)] + [pool.submit(write_loop)]
        for f in futures:
            f.result()
    assert errors == []
    assert index.n_documents == 5


class DegradedAnswerer(FakeAnswerer):
    """Answers like the fake, flagged as produced by a fallback generator."""

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Any = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        base = super().answer(question, top_k, filters, model, history)
        return replace(base, degraded=True, degraded_reason="fallback generator")


def test_degraded_answers_are_counted(tmp_path: Path) -> None:
    index = seed_fake_index()
    app = create_app(Settings(index_dir=tmp_path), index=index, pipeline=DegradedAnswerer(index))
    with TestClient(app) as c:
        body = c.post("/ask", json={"question": QUESTION}).json()
        assert body["degraded"] is True
        assert body["degraded_reason"] == "fallback generator"
        c.post(
            "/v1/chat/completions",
            json={"model": "citeqa", "messages": [{"role": "user", "content": QUESTION}]},
        )
        text = c.get("/metrics").text
    assert 'citeqa_answers_degraded_total{endpoint="ask"} 1.0' in text
    assert 'citeqa_answers_degraded_total{endpoint="chat"} 1.0' in text
    assert 'citeqa_answers_total{endpoint="chat"} 1.0' in text
