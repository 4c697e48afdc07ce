"""Every error path of the HTTP API: status, stable code, helpful message, no leaks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from index.errors import IndexMismatchError
from service.http.app import create_app
from service.settings import Settings
from tests.fakes import (
    FakeAnswerer,
    FakeDocumentFactory,
    fake_parts,
    generation_failure,
    seed_fake_index,
)

QUESTION = "How many North Korean troops were sent to Russia?"


def client_for(
    tmp_path: Path,
    index: Any = None,
    pipeline: Any = None,
    loader: Any = None,
    **overrides: Any,
) -> TestClient:
    if index is None and pipeline is None and loader is None:
        index, pipeline = fake_parts()
    settings = Settings(index_dir=tmp_path / "idx", **overrides)
    app = create_app(
        settings,
        index=index,
        pipeline=pipeline,
        loader=loader,
        document_factory=FakeDocumentFactory(),
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path) as c:
        yield c


def assert_error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "x-request-id" in r.headers
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return dict(body["error"])


# ---- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"question": ""}, "question"),
        ({"question": "   \n\t "}, "question"),
        ({"question": "x" * 2001}, "question"),
        ({"question": QUESTION, "top_k": 0}, "top_k"),
        ({"question": QUESTION, "top_k": 51}, "top_k"),
        ({"question": QUESTION, "top_k": "five"}, "top_k"),
        ({"question": QUESTION, "topk": 3}, "topk"),
        ({"question": QUESTION, "filters": {"author": "x"}}, "filters.author"),
        ({}, "question"),
        ([QUESTION], "body"),
    ],
)
def test_ask_validation_errors_say_what_is_accepted(
    client: TestClient, payload: Any, where: str
) -> None:
    err = assert_error(client.post("/ask", json=payload), 422, "invalid_request")
    assert err["message"].startswith(where) or f"; {where}" in err["message"]
    assert "Accepted:" in err["message"]
    assert "top_k" in err["message"]
    assert err["details"][0]["loc"] == where


def test_question_of_exactly_2000_chars_is_accepted(client: TestClient) -> None:
    assert client.post("/ask", json={"question": "troops " * 285 + "x" * 5}).status_code == 200


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post("/ask", content=b'{"question": ', headers={"Content-Type": "application/json"})
    err = assert_error(r, 400, "invalid_json")
    assert "not valid JSON" in err["message"]


def test_search_validation(client: TestClient) -> None:
    assert_error(client.post("/search", json={"query": " "}), 422, "invalid_request")
    err = assert_error(
        client.post("/search", json={"query": "x", "mode": "magic"}), 422, "invalid_request"
    )
    assert "bm25" in err["message"]


def test_documents_validation(client: TestClient) -> None:
    assert_error(client.post("/documents", json={"text": "  "}), 422, "invalid_request")
    assert_error(
        client.post("/documents", json={"text": "ok", "id": "../etc/passwd"}),
        422,
        "invalid_request",
    )
    assert_error(client.post("/documents", json={"text": "ok", "x": 1}), 422, "invalid_request")
    r = client.post("/documents", content=b"{nope", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")
    r = client.post("/documents", content=b"hello", headers={"Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")
    r = client.post("/documents", data={"title": "no file"}, files={"other": ("a.txt", b"x")})
    err = assert_error(r, 422, "invalid_request")
    assert "file" in err["message"]
    assert_error(client.get("/documents", params={"limit": 0}), 422, "invalid_request")


def test_invalid_upload_is_422_with_reason(client: TestClient) -> None:
    r = client.post("/documents", files={"file": ("x.txt", b"\x00\x01\x02binary")})
    err = assert_error(r, 422, "invalid_document")
    assert "binary" in err["message"]
    r = client.post("/documents", files={"file": ("x.txt", b"\xff\xfe not utf8")})
    assert "UTF-8" in assert_error(r, 422, "invalid_document")["message"]


# ---- not found / method -----------------------------------------------------------------------


def test_unknown_route_and_document_and_method(client: TestClient) -> None:
    assert "/docs" in assert_error(client.get("/nope"), 404, "not_found")["message"]
    err = assert_error(client.get("/documents/missing-doc"), 404, "document_not_found")
    assert "missing-doc" in err["message"]
    assert_error(client.delete("/documents/missing-doc"), 404, "document_not_found")
    assert_error(client.get("/ask"), 405, "method_not_allowed")


# ---- auth --------------------------------------------------------------------------------------


def test_api_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keys = "alpha-key-123,beta-key-456"
    with caplog.at_level("DEBUG"), client_for(tmp_path, api_keys=keys) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic alpha-key-123"},
            {"Authorization": "Bearer alpha-key-12"},
            {"Authorization": "Bearer "},
        ):
            r = c.post("/search", json={"query": "Kursk"}, headers=headers)
            err = assert_error(r, 401, "unauthorized")
            assert "Bearer" in err["message"]
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert_error(c.get("/metrics"), 401, "unauthorized")
        assert_error(c.get("/docs"), 401, "unauthorized")
        for key in ("alpha-key-123", "beta-key-456"):
            r = c.post(
                "/search", json={"query": "Kursk"}, headers={"Authorization": f"Bearer {key}"}
            )
            assert r.status_code == 200
    assert "alpha-key-123" not in caplog.text
    assert "beta-key-456" not in caplog.text


def test_settings_parse_comma_separated_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_API_KEYS", " k1 ,k2,, ")
    assert [k.get_secret_value() for k in Settings().api_keys] == ["k1", "k2"]


# ---- size limits --------------------------------------------------------------------------------


def test_body_over_limit_is_413_by_content_length(tmp_path: Path) -> None:
    with client_for(tmp_path, max_body_bytes=1024, max_upload_bytes=4096) as c:
        big = {"question": "troops " * 300}
        err = assert_error(c.post("/ask", json=big), 413, "payload_too_large")
        assert "1024" in err["message"]
        # Uploads have their own (larger) limit.
        doc = {"id": "big", "text": "Kursk troops. " * 150}
        assert c.post("/documents", json=doc).status_code == 201
        doc = {"id": "bigger", "text": "Kursk troops. " * 400}
        assert_error(c.post("/documents", json=doc), 413, "payload_too_large")


def test_streamed_body_over_limit_is_413_without_reading_it_all(tmp_path: Path) -> None:
    sent = []

    def body() -> Iterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"x" * 512

    with client_for(tmp_path, max_body_bytes=1024) as c:
        # No Content-Length: the middleware counts bytes as they arrive.
        r = c.post("/ask", content=body(), headers={"Content-Type": "application/json"})
        assert_error(r, 413, "payload_too_large")
        r = c.post("/documents", content=body(), headers={"Content-Type": "application/json"})
    assert r.status_code in (201, 400, 413, 422)


def test_bad_content_length_is_400(tmp_path: Path) -> None:
    from service.http.middleware import BodyLimitMiddleware

    seen = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    import anyio

    sent: list[Any] = []

    async def run() -> None:
        mw = BodyLimitMiddleware(inner, 1024, 2048)
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/ask",
            "headers": [(b"content-length", b"12x")],
        }

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await mw(scope, receive, send)

    anyio.run(run)
    assert seen == []
    assert sent[0]["status"] == 400


# ---- rate limit ---------------------------------------------------------------------------------


def test_rate_limit_429_with_retry_after(tmp_path: Path) -> None:
    with client_for(tmp_path, rate_limit_per_minute=3) as c:
        codes = [c.post("/search", json={"query": "Kursk"}).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = c.post("/search", json={"query": "Kursk"})
        err = assert_error(r, 429, "rate_limited")
        assert "3 requests per minute" in err["message"]
        assert 1 <= int(r.headers["retry-after"]) <= 20
        assert c.get("/healthz").status_code == 200  # health is never limited
        assert "citeqa_rate_limited_total 1.0" in c.get("/metrics").text


def test_rate_limit_is_per_key(tmp_path: Path) -> None:
    with client_for(tmp_path, rate_limit_per_minute=2, api_keys="k-one,k-two") as c:
        one = {"Authorization": "Bearer k-one"}
        two = {"Authorization": "Bearer k-two"}
        for _ in range(2):
            assert c.post("/search", json={"query": "a"}, headers=one).status_code == 200
        assert c.post("/search", json={"query": "a"}, headers=one).status_code == 429
        assert c.post("/search", json={"query": "a"}, headers=two).status_code == 200


def test_token_bucket_refills() -> None:
    from service.http.middleware import TokenBucket

    now = [0.0]
    bucket = TokenBucket(60, burst=2, clock=lambda: now[0])
    assert bucket.acquire("a") == 0
    assert bucket.acquire("a") == 0
    assert bucket.acquire("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert bucket.acquire("a") == 0
    assert bucket.acquire("b") == 0  # other identities have their own bucket


# ---- server-side failures ----------------------------------------------------------------------


def test_deadline_is_504(tmp_path: Path) -> None:
    index = seed_fake_index()
    slow = FakeAnswerer(index, delay=2.0)
    with client_for(tmp_path, index=index, pipeline=slow, request_deadline_s=0.3) as c:
        r = c.post("/ask", json={"question": QUESTION})
        err = assert_error(r, 504, "deadline_exceeded")
        assert "0.3" in err["message"]
        assert c.get("/healthz").status_code == 200


def test_unexpected_exception_is_generic_500(tmp_path: Path) -> None:
    index = seed_fake_index()
    broken = FakeAnswerer(index, error=RuntimeError("db password is hunter2"))
    with client_for(tmp_path, index=index, pipeline=broken) as c:
        r = c.post("/ask", json={"question": QUESTION})
        err = assert_error(r, 500, "internal_error")
        assert "hunter2" not in r.text
        assert "Traceback" not in r.text
        assert r.headers["x-request-id"] in err["message"]


def test_generation_error_is_502_and_counted(tmp_path: Path) -> None:
    index = seed_fake_index()
    failing = FakeAnswerer(index, error=generation_failure())
    with client_for(tmp_path, index=index, pipeline=failing) as c:
        r = c.post("/ask", json={"question": QUESTION})
        err = assert_error(r, 502, "generation_error")
        assert "secret-upstream-detail" not in r.text
        assert "language model" in err["message"]
        assert "citeqa_generator_errors_total 1.0" in c.get("/metrics").text


def test_index_errors_are_503_without_internals(tmp_path: Path) -> None:
    index = seed_fake_index()
    broken = FakeAnswerer(index, error=IndexMismatchError("built with model X at /secret/path"))
    with client_for(tmp_path, index=index, pipeline=broken) as c:
        r = c.post("/ask", json={"question": QUESTION})
        assert_error(r, 503, "index_mismatch")
        assert "/secret/path" not in r.text


def test_invalid_query_from_core_is_422(tmp_path: Path) -> None:
    with client_for(tmp_path) as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "citeqa", "messages": [{"role": "system", "content": "hi"}]},
        )
        err = assert_error(r, 422, "invalid_query")
        assert "user" in err["message"]
        r = c.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert "citeqa" in assert_error(r, 404, "model_not_found")["message"]
        r = c.post("/v1/chat/completions", json={"model": "citeqa", "messages": []})
        assert_error(r, 422, "invalid_request")


# ---- readiness ---------------------------------------------------------------------------------


def test_not_ready_until_background_load_finishes(tmp_path: Path) -> None:
    release = threading.Event()
    parts = fake_parts()

    def slow_loader(settings: Settings) -> Any:
        assert release.wait(10)
        return parts

    with client_for(tmp_path, loader=slow_loader) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert_error(r, 503, "not_ready")
        assert r.headers["retry-after"] == "2"
        r = c.post("/ask", json={"question": QUESTION})
        assert "loading" in assert_error(r, 503, "not_ready")["message"]
        assert r.headers["retry-after"] == "2"
        assert_error(c.get("/documents"), 503, "not_ready")
        assert "citeqa_ready 0.0" in c.get("/metrics").text
        release.set()
        state = c.app.state.citeqa.state  # type: ignore[attr-defined]
        assert state.ready_event.wait(10)
        assert c.get("/readyz").json()["status"] == "ready"
        assert c.post("/ask", json={"question": QUESTION}).status_code == 200
        assert "citeqa_ready 1.0" in c.get("/metrics").text


def test_failed_start_is_reported_by_readyz(tmp_path: Path) -> None:
    def failing_loader(settings: Settings) -> Any:
        raise IndexMismatchError("index built with another model; run citeqa ingest --rebuild")

    with client_for(tmp_path, loader=failing_loader) as c:
        state = c.app.state.citeqa.state  # type: ignore[attr-defined]
        for _ in range(200):
            if state.status == "failed":
                break
            threading.Event().wait(0.02)
        err = assert_error(c.get("/readyz"), 503, "not_ready")
        assert "failed to start" in err["message"]
        assert "--rebuild" in err["message"]
        assert c.get("/healthz").status_code == 200
