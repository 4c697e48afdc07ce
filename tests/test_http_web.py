"""The web page's server side, in process: ``GET /`` and ``/static`` (headers, public without a
key, package data) and ``POST /feedback`` (validation, the FeedbackLog line it appends)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.http.routes.web import STATIC_DIR
from service.settings import Settings
from tests.fakes import FakeDocumentFactory, fake_parts

QUESTION = "How many North Korean troops were sent to Russia?"
REQUIRED_CSP = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)
PAGE_FILES = ("index.html", "app.js", "app.css", "icon.svg")


def make_client(tmp_path: Path, **overrides: object) -> TestClient:
    index, pipeline = fake_parts()
    settings = Settings(
        index_dir=tmp_path / "idx",
        feedback_file=tmp_path / "fb" / "feedback.jsonl",
        **overrides,  # type: ignore[arg-type]
    )
    app = create_app(
        settings, index=index, pipeline=pipeline, document_factory=FakeDocumentFactory()
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def assert_page_headers(headers: object) -> None:
    assert hasattr(headers, "get")
    csp = headers.get("content-security-policy", "")
    directives = {d.strip() for d in csp.split(";")}
    for required in REQUIRED_CSP:
        assert required in directives, (required, csp)
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"


def test_root_serves_the_page_with_strict_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js" defer></script>' in r.text
    assert_page_headers(r.headers)
    assert client.head("/").status_code == 200


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("app.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg+xml")],
)
def test_static_files_have_types_and_headers(
    client: TestClient, name: str, media_type: str
) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media_type)
    assert_page_headers(r.headers)
    again = client.get(f"/static/{name}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_static_requests_have_one_metrics_label(client: TestClient) -> None:
    client.get("/static/app.js")
    client.get("/static/nope.js")
    metrics = client.get("/metrics").text
    assert 'route="/static/{path}",status="200"' in metrics
    assert 'route="/static/{path}",status="404"' in metrics


def test_static_does_not_escape_its_folder(client: TestClient) -> None:
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/nope.js"):
        assert client.get(path).status_code == 404


def test_page_is_public_when_keys_are_required(tmp_path: Path) -> None:
    with make_client(tmp_path, api_keys="k1") as c:
        assert c.get("/").status_code == 200
        assert c.get("/static/app.js").status_code == 200
        assert c.get("/documents").status_code == 401
        assert c.post("/feedback", json={}).status_code == 401


def test_page_inlines_no_script_or_style() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "<style" not in html
    assert not re.search(r"\s(on[a-z]+|style)\s*=", html)
    assert "javascript:" not in html
    js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    sinks = r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function"
    assert not re.search(sinks, js)


def test_page_weight_is_under_budget() -> None:
    total = sum((STATIC_DIR / name).stat().st_size for name in PAGE_FILES)
    assert total < 150 * 1024, total


def answer_json(client: TestClient) -> dict[str, object]:
    body = client.post("/ask", json={"question": QUESTION}).json()
    assert isinstance(body, dict)
    return body


def test_feedback_appends_a_web_line(client: TestClient, tmp_path: Path) -> None:
    answer = {**answer_json(client), "confidence": 0.7, "retrieval_query": "troops Russia"}
    r = client.post(
        "/feedback",
        json={
            "verdict": "not_helpful",
            "comment": "  missing the 12,000 figure ",
            "question": QUESTION,
            "answer": answer,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["recorded"] is True
    lines = (tmp_path / "fb" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["source"] == "web"
    assert line["verdict"] == "not_helpful"
    assert line["comment"] == "missing the 12,000 figure"
    assert line["question"] == QUESTION
    assert line["answer"] == answer["answer"]
    assert line["citations"] == answer["citations"]
    assert line["abstained"] is False
    assert line["model"] == answer["model"]
    assert len(line["user_hash"]) == 64
    assert (tmp_path / "fb" / "feedback.jsonl.salt").exists()


def test_feedback_lines_are_readable_by_the_eval_miner(client: TestClient, tmp_path: Path) -> None:
    from eval.feedback import _parse_line

    answer = answer_json(client)
    for verdict in ("helpful", "not_helpful"):
        body = {"verdict": verdict, "question": QUESTION, "answer": answer}
        assert client.post("/feedback", json=body).status_code == 201
    lines = (tmp_path / "fb" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["comment"] for x in lines] == [None, None]
    assert all(_parse_line(x) is not None for x in lines)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"verdict": "meh", "question": "q", "answer": {"answer": "a", "abstained": False}},
        {"verdict": "helpful", "question": " ", "answer": {"answer": "a", "abstained": False}},
        {"verdict": "helpful", "question": "q", "answer": {"abstained": False}},
        {
            "verdict": "helpful",
            "question": "q",
            "answer": {"answer": "a", "abstained": False},
            "extra": 1,
        },
        {
            "verdict": "helpful",
            "question": "q",
            "comment": "x" * 2001,
            "answer": {"answer": "a", "abstained": False},
        },
    ],
)
def test_feedback_refuses_bad_bodies(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/feedback", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert "Accepted:" in r.json()["error"]["message"]
