"""Verified sentence streaming over HTTP with an LLM: ``/ask`` SSE and ``/v1/chat/completions``
``stream: true`` send each sentence once verified, never one that fails; fallbacks are counted
by reason in ``/metrics``."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from index.errors import GenerationTimeoutError
from service.answering.generators.extractive import ExtractiveGenerator
from service.answering.generators.fallback import FallbackGenerator
from service.answering.generators.protocol import Generation, GenerationRequest
from service.answering.pipeline import AnswerPipeline
from service.http.app import create_app
from service.settings import Settings
from service.wiring import prompt_version
from tests.fakes import FakeDocumentFactory, FakeGenerator, seed_fake_index
from tests.test_http_api import parse_sse

Q = "Who signed the mutual defense pact?"
GOOD = "signed between Kim Jong Un and Vladimir Putin"


def _reply(index: object) -> str:
    hits = index.search(Q, top_k=5)  # type: ignore[attr-defined]
    n = next(i for i, h in enumerate(hits, start=1) if GOOD in h.chunk.text)
    items = [
        {"source": n, "quote": GOOD, "text": "Kim Jong Un and Vladimir Putin signed it."},
        {"source": 1, "quote": "signed on Jupiter in 1999", "text": "They signed it on Jupiter."},
    ]
    return json.dumps({"found": True, "sentences": items})


def _client(tmp_path: Path, generator: object) -> TestClient:
    index = seed_fake_index()
    pipeline = AnswerPipeline(index, generator, prompt_version=prompt_version())  # type: ignore[arg-type]
    settings = Settings(index_dir=tmp_path / "idx", llm_model="fake/llm")
    app = create_app(
        settings, index=index, pipeline=pipeline, document_factory=FakeDocumentFactory()
    )
    return TestClient(app, raise_server_exceptions=False)


def test_ask_streams_each_verified_sentence_and_never_a_failing_one(tmp_path: Path) -> None:
    index = seed_fake_index()
    with _client(tmp_path, FakeGenerator(_reply(index))) as client:
        r = client.post("/ask", json={"question": Q, "stream": True})
    assert r.status_code == 200
    events = parse_sse(r.text)
    kinds = [e for e, _ in events]
    assert kinds == ["delta", "sentence", "citations", "done"]
    sentence = json.loads(events[1][1])
    assert sentence["text"].startswith("Kim Jong Un and Vladimir Putin signed it")
    assert "Jupiter" not in r.text.split("event: done")[0]
    (c,) = sentence["citations"]
    assert index.get_document(c["doc_id"]).text[c["start"] : c["end"]] == c["quote"]
    done = json.loads(events[-1][1])
    assert done["generator"] == "llm"
    assert [s["supported"] for s in done["sentences"]] == [True, False]


def test_chat_completions_stream_sends_verified_sentences(tmp_path: Path) -> None:
    index = seed_fake_index()
    with _client(tmp_path, FakeGenerator(_reply(index))) as client:
        r = client.post(
            "/v1/chat/completions",
            json={"model": "citeqa", "stream": True, "messages": [{"role": "user", "content": Q}]},
        )
    assert r.status_code == 200
    chunks = [json.loads(d) for _e, d in parse_sse(r.text) if d != "[DONE]"]
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content.startswith("Kim Jong Un and Vladimir Putin signed it [1].")
    assert "Jupiter" not in content
    assert "Sources:" in content
    assert chunks[-1]["citeqa"]["citations"][0]["origin"] == "model"


class _TimingOut:
    model = "fake/llm"
    timeout_s = 5.0

    def generate(self, request: GenerationRequest) -> Generation:
        raise GenerationTimeoutError("fake/llm timed out")


def test_a_timeout_falls_back_and_is_counted_by_reason(tmp_path: Path) -> None:
    index = seed_fake_index()
    chain = FallbackGenerator(
        "fake/llm",
        ExtractiveGenerator(index),
        llm=_TimingOut(),  # type: ignore[arg-type]
    )
    with _client(tmp_path, chain) as client:
        r = client.post("/ask", json={"question": Q})
        metrics = client.get("/metrics").text
    answer = r.json()
    assert answer["degraded"]
    assert answer["fallback_reason"] == "timeout"
    assert answer["generator"] == "extractive"
    assert 'citeqa_generator_fallbacks_total{reason="timeout"} 1.0' in metrics
