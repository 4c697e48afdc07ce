"""The real local LLM end to end: llama.cpp serving the pinned Qwen2.5-Coder-0.5B GGUF on
loopback, asked real questions over the seeds through litellm, the verifier and attribution.

Marked ``llm``: ``make test`` runs ``make llm`` first (it installs the server and fetches the
weights); when they are missing these tests fail with the command that installs them. The
server starts once per session and answers with bounded output, so the module takes about a
minute here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from service.answering.pipeline import AnswerPipeline
from service.answering.types import Answer

pytestmark = [pytest.mark.llm, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL = "make llm"
START_TIMEOUT_S = 180.0


def _model_file() -> Path:
    from service.llm_local.models import DEFAULT_MODEL, MODELS, ModelMissingError, model_path

    folder = Path(os.environ.get("CITEQA_MODEL_DIR", REPO_ROOT / ".citeqa" / "models"))
    try:
        return model_path(MODELS[DEFAULT_MODEL], folder)
    except ModelMissingError as exc:
        pytest.fail(f"{exc}. Install it with `{INSTALL}`.")


@pytest.fixture(scope="session")
def llm_base_url() -> Iterator[str]:
    """``citeqa llm serve`` in a child process on a free loopback port, stopped at the end."""
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        pytest.fail(f"xllamacpp is not installed. Install it with `{INSTALL}`.")
    path = _model_file()
    from service.llm_local.server import free_port

    port = free_port()
    env = {**os.environ, "CITEQA_MODEL_DIR": str(path.parent)}
    cmd = [sys.executable, "-m", "service.cli", "llm", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`{' '.join(cmd)}` exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the local LLM did not start within {START_TIMEOUT_S:.0f} s")
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def llm_pipeline(llm_base_url: str, seed_index: Any) -> AnswerPipeline:
    from service import wiring
    from service.settings import Settings

    settings = Settings(
        llm_model="openai/citeqa-local",
        llm_api_base=llm_base_url,
        llm_api_key=SecretStr("none"),
        llm_timeout_s=150,
        answer_deadline_s=160,
        llm_max_tokens=160,
    )
    return wiring.build_answerer(settings, seed_index)


def _exact(answer: Answer, index: Any) -> None:
    for c in answer.citations:
        assert index.get_document(c.doc_id).text[c.start : c.end] == c.quote
    for s in answer.sentences:
        assert s.supported == bool(s.citations)


def test_the_real_model_names_who_signed_with_exact_citations(
    llm_pipeline: AnswerPipeline, seed_index: Any
) -> None:
    answer = llm_pipeline.answer("Who signed the mutual defense pact?")
    assert answer.generator == "llm", answer.degraded_reason
    assert not answer.abstained, answer.abstain_reason
    assert "Putin" in answer.answer
    assert "Kim" in answer.answer
    assert answer.citations
    _exact(answer, seed_index)
    assert any("Putin" in c.quote for c in answer.citations)


def test_the_real_model_dates_the_pact(llm_pipeline: AnswerPipeline, seed_index: Any) -> None:
    answer = llm_pipeline.answer(
        "In what month and year was the North Korea-Russia defense agreement signed?"
    )
    assert answer.generator == "llm", answer.degraded_reason
    assert "June 2024" in answer.answer
    _exact(answer, seed_index)
    assert any("June 2024" in c.quote for c in answer.citations)


def test_an_out_of_corpus_question_abstains(llm_pipeline: AnswerPipeline, seed_index: Any) -> None:
    answer = llm_pipeline.answer("What is the boiling point of tungsten in kelvin?")
    assert answer.abstained, answer.answer
    assert answer.citations == ()
    assert answer.abstain_reason


def test_streaming_yields_only_verified_sentences_before_the_answer(
    llm_pipeline: AnswerPipeline, seed_index: Any
) -> None:
    events = list(llm_pipeline.answer_stream("Who signed the mutual defense pact?"))
    *sentences, last = events
    assert last.answer is not None
    assert sentences, "no sentence was streamed"
    streamed = [c for e in sentences for c in e.citations]
    assert streamed
    for e in sentences:
        assert e.answer is None
        assert "[" in e.text  # every streamed sentence carries its citation marker
    for c in streamed:
        assert seed_index.get_document(c.doc_id).text[c.start : c.end] == c.quote
    assert "Putin" in " ".join(e.text for e in sentences)
    _exact(last.answer, seed_index)
