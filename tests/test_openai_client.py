"""The official ``openai`` client against citeqa's OpenAI-compatible endpoints on a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from service.http.app import create_app
from service.settings import Settings
from tests.fakes import fake_parts, live_server

QUESTION = "How many North Korean troops were sent to Russia?"
KEY = "openai-test-key"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    index, pipeline = fake_parts()
    settings = Settings(index_dir=Path("/nonexistent"), api_keys=KEY)  # type: ignore[arg-type]
    app = create_app(settings, index=index, pipeline=pipeline)
    with live_server(app) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=20)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "citeqa"
    assert "extractive" in ids  # the configured generator is listed too


def test_chat_completion_has_sources_and_structured_citations(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="citeqa",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! Ask me about the documents."},
            {"role": "user", "content": QUESTION},
        ],
        temperature=0.2,  # accepted and ignored
    )
    content = completion.choices[0].message.content or ""
    assert completion.choices[0].finish_reason == "stop"
    assert "[1]" in content
    assert "\nSources:\n[1] " in content
    extra: Any = completion.model_extra or {}
    citeqa = extra["citeqa"]
    assert citeqa["abstained"] is False
    citation = citeqa["citations"][0]
    assert citation["quote"] in content
    assert citation["doc_id"] in content
    assert completion.usage is not None
    assert completion.usage.total_tokens > 0


def test_chat_completion_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="citeqa", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    text = ""
    finish = None
    structured = None
    for chunk in stream:
        choice = chunk.choices[0]
        text += choice.delta.content or ""
        if choice.finish_reason:
            finish = choice.finish_reason
            structured = (chunk.model_extra or {}).get("citeqa")
    assert finish == "stop"
    assert structured is not None
    assert structured["citations"]
    assert text.startswith(structured["answer"].rstrip())
    assert "Sources:" in text


def test_openai_errors_surface_as_api_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": QUESTION}]
        )
    assert "citeqa" in str(info.value)
    bad = openai.OpenAI(base_url=str(client.base_url), api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


@pytest.mark.slow
def test_openai_client_against_real_pipeline(
    seed_index_dir: Path, real_embedder: Any, tmp_path: Path
) -> None:
    import shutil

    from index.corpus import CorpusIndex
    from service.wiring import build_answerer

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    settings = Settings(index_dir=index_dir)
    index = CorpusIndex.open(index_dir, real_embedder)
    app = create_app(settings, index=index, pipeline=build_answerer(settings, index))
    with live_server(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        completion = client.chat.completions.create(
            model="citeqa", messages=[{"role": "user", "content": QUESTION}]
        )
        content = completion.choices[0].message.content or ""
        citeqa = (completion.model_extra or {})["citeqa"]
        assert citeqa["citations"]
        assert "Sources:" in content
        seeds = Path(__file__).resolve().parent.parent / "seeds"
        for c in citeqa["citations"]:
            text = (seeds / f"{c['doc_id']}.txt").read_text(encoding="utf-8")
            assert text[c["start"] : c["end"]] == c["quote"]
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="citeqa", messages=[{"role": "user", "content": QUESTION}], stream=True
            )
        )
        assert streamed == content
