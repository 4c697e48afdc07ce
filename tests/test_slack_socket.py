"""Socket Mode: the bot connects to a fake Slack WebSocket (URL from apps.connections.open on the
fake Web API), acks envelopes and answers through the same listeners as HTTP mode."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from service.settings import Settings
from service.slack.bot import CiteqaSlackBot, build_bot
from service.slack.command import slack_command
from service.slack.rendering import WORKING_TEXT
from service.slack.socket import serve_socket_mode
from tests.fakes import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    FakeAnswerer,
    FakeSlack,
    block_texts,
)

pytestmark = pytest.mark.integration


class SocketBotThread:
    """Runs ``serve_socket_mode`` on its own event loop until ``stop()``."""

    def __init__(self, bot: CiteqaSlackBot) -> None:
        self.bot = bot
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            await serve_socket_mode(self.bot, APP_TOKEN, self.stop_event)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def start(self) -> SocketBotThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(20)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def bot_thread(
    slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SocketBotThread]:
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_app_token=SecretStr(APP_TOKEN),
        slack_signing_secret=None,
        slack_api_url=slack.api_url,
        slack_ephemeral=False,
        feedback_file=tmp_path_factory.mktemp("fb") / "feedback.jsonl",
    )
    bot = build_bot(settings, FakeAnswerer(slow_s=0.1), socket_mode=True)
    runner = SocketBotThread(bot).start()
    assert slack.socket_connected.wait(15), runner.error
    yield runner
    runner.stop()
    assert runner.error is None


def wait_for_ack(slack: FakeSlack, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ack in list(slack.socket_acks):
            if ack.get("envelope_id") == envelope_id:
                return ack
        time.sleep(0.05)
    raise AssertionError(f"no ack for {envelope_id}: {slack.socket_acks}")


def events_envelope(envelope_id: str, event_id: str, event: dict[str, Any], retry: int = 0) -> Any:
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
        "payload": {
            "type": "event_callback",
            "team_id": "T0000001",
            "api_app_id": "A0000001",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        },
    }


def test_socket_mode_mention_is_acked_and_answered_once(
    bot_thread: SocketBotThread, slack: FakeSlack
) -> None:
    assert slack.calls_of("apps.connections.open")
    event = {
        "type": "app_mention",
        "user": "UHUMAN01",
        "text": f"<@{BOT_USER_ID}> How many troops were sent?",
        "ts": "1700000200.000100",
        "channel": "CSOCK01",
    }
    slack.send_envelope(events_envelope("env-1", "EvSock1", event))
    wait_for_ack(slack, "env-1")
    # Slack re-sends the envelope when it thinks the ack was lost.
    slack.send_envelope(events_envelope("env-2", "EvSock1", event, retry=1))
    wait_for_ack(slack, "env-2")
    [placeholder] = slack.wait_for("chat.postMessage", channel="CSOCK01")
    assert placeholder.params["thread_ts"] == "1700000200.000100"
    assert placeholder.params["text"] == WORKING_TEXT
    [update] = slack.wait_for("chat.update", channel="CSOCK01")
    assert "Over 10,000 North Korean troops" in "\n".join(block_texts(update.params["blocks"]))
    time.sleep(0.5)
    assert len(slack.calls_of("chat.postMessage", channel="CSOCK01")) == 1


def test_socket_mode_slash_command_answers_in_channel_when_configured(
    bot_thread: SocketBotThread, slack: FakeSlack
) -> None:
    slack.send_envelope(
        {
            "envelope_id": "env-cmd",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "command": "/ask",
                "text": "How many troops were sent?",
                "user_id": "UHUMAN02",
                "channel_id": "CSOCK02",
                "team_id": "T0000001",
                "response_url": slack.response_url("sock-cmd"),
                "trigger_id": "1.2.3",
            },
        }
    )
    ack = wait_for_ack(slack, "env-cmd")
    assert ack["payload"]["response_type"] == "ephemeral"
    [reply] = slack.wait_for("respond", _name="sock-cmd")
    assert reply.params["response_type"] == "in_channel"  # slack_ephemeral=False


def test_cli_refuses_to_start_without_socket_flag_or_tokens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import argparse

    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    args = argparse.Namespace(socket=False, url=None, api_key=None, index_dir=tmp_path)
    assert slack_command(args) == 2
    assert "citeqa serve" in capsys.readouterr().err
    args.socket = True
    assert slack_command(args) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    assert slack_command(args) == 2
    assert "SLACK_APP_TOKEN" in capsys.readouterr().err


def test_cli_parser_has_the_slack_command() -> None:
    from service.cli import build_parser

    args = build_parser().parse_args(["slack", "--socket", "--url", "http://127.0.0.1:8000"])
    assert args.socket
    assert args.url == "http://127.0.0.1:8000"
    assert args.func is slack_command


def test_cli_socket_mode_answers_through_a_remote_service(tmp_path: Path) -> None:
    """`citeqa slack --socket --url` as a real process: connects, answers via POST /ask."""
    import os
    import subprocess
    import sys

    from fastapi import FastAPI

    from tests.fakes import ServerThread, sample_answer

    asked: list[str] = []
    api = FastAPI()

    @api.post("/ask")
    def ask(body: dict[str, Any]) -> dict[str, Any]:
        asked.append(body["question"])
        return sample_answer(body["question"]).to_dict()

    # A Slack of its own: the module's fake already has the fixture bot connected.
    slack = FakeSlack().start()
    service = ServerThread(api).start()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "CITEQA_FEEDBACK_FILE": str(tmp_path / "feedback.jsonl"),
    }
    env.pop("SLACK_SIGNING_SECRET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "slack", "--socket", "--url", service.url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not slack.socket_connected.wait(30):
            proc.kill()
            pytest.fail(f"the bot process did not connect: {proc.communicate()[1]}")
        event = {
            "type": "app_mention",
            "user": "UHUMAN01",
            "text": f"<@{BOT_USER_ID}> How many troops were sent?",
            "ts": "1700000400.000100",
            "channel": "CSOCKCLI",
        }
        slack.send_envelope(events_envelope("env-cli", "EvSockCli1", event))
        [update] = slack.wait_for("chat.update", channel="CSOCKCLI", timeout=20)
        assert "Over 10,000 North Korean troops" in update.params["text"]
        assert asked == ["How many troops were sent?"]
        proc.terminate()  # SIGTERM: a clean stop, not a traceback
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        service.stop()
        slack.stop()
