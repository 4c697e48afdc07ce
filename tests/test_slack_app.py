"""The Slack bot inside the real service (``create_app``), and the remote answerer that lets the
Socket Mode bot answer through that service's ``POST /ask``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from index.errors import CiteqaError, GenerationError, InvalidQueryError
from service.client import answer_from_dict
from service.http.app import create_app
from service.settings import Settings
from service.slack.remote import RemoteAnswerer
from tests.fakes import (
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    FakeAnswerer,
    FakeIndex,
    FakeSlack,
    ServerThread,
    block_texts,
    event_body,
    post_signed,
    sample_answer,
)

pytestmark = pytest.mark.integration

API_KEY = "test-api-key-123"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def service(slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("unused-index"),
        api_keys=[SecretStr(API_KEY)],
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack.api_url,
        feedback_file=tmp_path_factory.mktemp("fb") / "feedback.jsonl",
    )
    app = create_app(settings, index=FakeIndex(), pipeline=FakeAnswerer(slow_s=0.1))
    server = ServerThread(app).start()
    yield server
    server.stop()


def test_create_app_mounts_slack_events_outside_api_key_auth(
    service: ServerThread, slack: FakeSlack
) -> None:
    event = {
        "type": "app_mention",
        "user": "UHUMAN01",
        "text": f"<@{BOT_USER_ID}> How many troops were sent?",
        "ts": "1700000100.000100",
        "channel": "CAPP01",
    }
    response = post_signed(service.url, event_body(event, "EvApp0001"))
    assert response.status_code == 200
    [update] = slack.wait_for("chat.update", channel="CAPP01")
    assert "Over 10,000 North Korean troops" in "\n".join(block_texts(update.params["blocks"]))
    [post] = slack.calls_of("chat.postMessage", channel="CAPP01")
    assert post.params["thread_ts"] == "1700000100.000100"


def test_create_app_rejects_unsigned_slack_requests(service: ServerThread) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"})
    assert post_signed(service.url, body, secret="wrong").status_code == 401
    # Signed correctly, the challenge comes back, API key or not.
    assert post_signed(service.url, body).json() == {"challenge": "c"}


def test_without_slack_settings_there_is_no_slack_route(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path, slack_bot_token=None, slack_signing_secret=None)
    app = create_app(settings, index=FakeIndex(), pipeline=FakeAnswerer(slow_s=0.1))
    assert not hasattr(app.state, "slack_bot")
    server = ServerThread(app).start()
    try:
        assert httpx.post(f"{server.url}/slack/events", content=b"{}").status_code == 404
    finally:
        server.stop()


def test_remote_answerer_round_trips_the_answer_through_post_ask(service: ServerThread) -> None:
    remote = RemoteAnswerer(service.url, api_key=API_KEY)
    try:
        answer = remote("How many troops were sent?")
    finally:
        remote.close()
    assert answer == sample_answer("x")


def test_remote_answerer_maps_service_errors(service: ServerThread) -> None:
    remote = RemoteAnswerer(service.url, api_key=API_KEY)
    try:
        with pytest.raises(GenerationError):
            remote("boom")
        with pytest.raises(InvalidQueryError):
            remote("   ")
    finally:
        remote.close()
    unauthorised = RemoteAnswerer(service.url, api_key="wrong-key")
    try:
        with pytest.raises(CiteqaError, match="API key"):
            unauthorised("How many troops?")
    finally:
        unauthorised.close()


def test_remote_answerer_reports_an_unreachable_service() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    remote = RemoteAnswerer("http://127.0.0.1:9", transport=httpx.MockTransport(refuse))
    with pytest.raises(GenerationError, match="cannot reach citeqa"):
        remote("q")


def test_answer_from_dict_inverts_to_dict() -> None:
    answer = sample_answer("q")
    assert answer_from_dict(json.loads(json.dumps(answer.to_dict()))) == answer


def test_stopping_the_server_waits_for_answers_in_flight(tmp_path: Path) -> None:
    from fastapi import FastAPI

    from service.slack.http import mount

    slack = FakeSlack().start()
    try:
        settings = Settings(
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_api_url=slack.api_url,
            feedback_file=tmp_path / "feedback.jsonl",
        )
        app = FastAPI()
        answerer = FakeAnswerer(slow_s=2.0)
        mount(app, settings, lambda: answerer)
        server = ServerThread(app).start()
        event = {
            "type": "app_mention",
            "user": "UHUMAN01",
            "text": f"<@{BOT_USER_ID}> slow question",
            "ts": "1700000300.000100",
            "channel": "CSTOP01",
        }
        assert post_signed(server.url, event_body(event, "EvStop0001")).status_code == 200
        slack.wait_for("chat.postMessage", channel="CSTOP01")
        server.stop()  # while the answer is still being made
        assert slack.calls_of("chat.update", channel="CSTOP01")
    finally:
        slack.stop()


@pytest.mark.slow
def test_real_pipeline_answer_reaches_slack_with_seed_citations(
    seed_index: Any, tmp_path: Path
) -> None:
    """The bot over the real pipeline and seed index: a cited answer lands in the thread."""
    from fastapi import FastAPI

    from service.slack.http import mount
    from service.wiring import build_answerer

    slack = FakeSlack().start()
    try:
        settings = Settings(
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_api_url=slack.api_url,
            feedback_file=tmp_path / "feedback.jsonl",
        )
        pipeline = build_answerer(settings, seed_index)
        app = FastAPI()
        mount(app, settings, lambda: pipeline)
        server = ServerThread(app).start()
        try:
            event = {
                "type": "app_mention",
                "user": "UHUMAN01",
                "text": f"<@{BOT_USER_ID}> How many North Korean troops have been deployed to "
                "Russia according to South Korean intelligence?",
                "ts": "1700000500.000100",
                "channel": "CREAL01",
            }
            assert post_signed(server.url, event_body(event, "EvReal0001")).status_code == 200
            [update] = slack.wait_for("chat.update", channel="CREAL01", timeout=120)
        finally:
            server.stop()
        joined = "\n".join(block_texts(update.params["blocks"]))
        assert "10,000" in joined
        assert "[1]" in joined
        seed_ids = {p.stem for p in (Path(__file__).parent.parent / "seeds").glob("*.txt")}
        assert any(doc_id in joined for doc_id in seed_ids)
    finally:
        slack.stop()
