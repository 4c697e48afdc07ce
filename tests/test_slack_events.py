"""The Slack bot end to end over HTTP: signed requests to a real uvicorn serving /slack/events,
answers posted through the real slack_sdk client to a fake Slack Web API on loopback."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from service.answering.conversation import Turn
from service.feedback import load_or_create_salt, salt_path_for
from service.settings import Settings
from service.slack.http import mount
from service.slack.rendering import (
    ACTION_HELPFUL,
    ACTION_NOT_HELPFUL,
    FRIENDLY_ERROR_TEXT,
    THANKS_TEXT,
    WORKING_TEXT,
    ZWSP,
)
from tests.fakes import (
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    FakeAnswerer,
    FakeSlack,
    ServerThread,
    block_texts,
    event_body,
    form_body,
    post_signed,
    sign,
)

pytestmark = pytest.mark.integration

_counter = iter(range(1, 10_000))


def next_id(prefix: str) -> str:
    return f"{prefix}{next(_counter):05d}"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def feedback_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slack") / "nested" / "feedback.jsonl"


@pytest.fixture(scope="module")
def answerer() -> FakeAnswerer:
    return FakeAnswerer(slow_s=5.0)


@pytest.fixture(scope="module")
def service(
    slack: FakeSlack, feedback_file: Path, answerer: FakeAnswerer
) -> Iterator[ServerThread]:
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack.api_url,
        feedback_file=feedback_file,
    )
    app = FastAPI()
    mount(app, settings, lambda: answerer)
    server = ServerThread(app).start()
    yield server
    server.stop()


def mention(channel: str, ts: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": "UHUMAN01",
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(
    channel: str, ts: str, text: str, *, thread_ts: str | None = None, **extra: Any
) -> dict[str, Any]:
    event = {
        "type": "message",
        "user": "UHUMAN01",
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "channel_type": "channel",
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def send_event(service: ServerThread, event: dict[str, Any], **kw: Any) -> Any:
    response = post_signed(service.url, event_body(event, kw.pop("event_id", next_id("Ev"))), **kw)
    assert response.status_code == 200, response.text
    return response


def settle(seconds: float = 0.6) -> None:
    """Gives a wrongly scheduled second answer the time to show up before asserting on counts."""
    time.sleep(seconds)


# ----------------------------------------------------------------------------- security


def test_url_verification_challenge_is_echoed(service: ServerThread) -> None:
    body = json.dumps({"token": "x", "challenge": "chal-123", "type": "url_verification"})
    response = post_signed(service.url, body)
    assert response.status_code == 200
    assert "chal-123" in response.text


def test_forged_signature_is_rejected_with_401(service: ServerThread, slack: FakeSlack) -> None:
    channel = next_id("CFORGE")
    body = event_body(mention(channel, "1.1", "How many troops?"), next_id("Ev"))
    response = post_signed(service.url, body, secret="not-the-signing-secret")
    assert response.status_code == 401
    missing = post_signed(service.url, body, signature="v0=deadbeef")
    assert missing.status_code == 401
    settle()
    assert slack.calls_of("chat.postMessage", channel=channel) == []


def test_replayed_request_older_than_5_minutes_is_rejected(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CREPLAY")
    body = event_body(mention(channel, "1.1", "How many troops?"), next_id("Ev"))
    old = int(time.time()) - 6 * 60
    response = post_signed(service.url, body, timestamp=old)  # correctly signed, but stale
    assert response.status_code == 401
    settle()
    assert slack.calls_of("chat.postMessage", channel=channel) == []


# ------------------------------------------------------------------------ conversations


def test_mention_is_answered_in_its_thread_with_blocks(
    service: ServerThread, slack: FakeSlack, answerer: FakeAnswerer
) -> None:
    channel = next_id("CMENT")
    send_event(service, mention(channel, "1700000001.000200", "How many troops were sent?"))
    [placeholder] = slack.wait_for("chat.postMessage", channel=channel)
    assert placeholder.params["thread_ts"] == "1700000001.000200"
    assert placeholder.params["text"] == WORKING_TEXT
    [update] = slack.wait_for("chat.update", channel=channel)
    assert update.params["ts"] == placeholder.response["ts"]
    texts = block_texts(update.params["blocks"])
    joined = "\n".join(texts)
    assert "Over 10,000 North Korean troops have been deployed to Russia [1]." in joined
    assert "*Sources*" in joined
    assert "004_114b54cabd2150fb" in joined
    assert "Reports from South Korean intelligence" in joined
    actions = [b for b in update.params["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [ACTION_HELPFUL, ACTION_NOT_HELPFUL]
    # The bot's own mention is not part of the question.
    assert "How many troops were sent?" in answerer.questions
    assert not any(BOT_USER_ID in q for q in answerer.questions)


def test_mention_inside_a_thread_replies_in_that_thread(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CTHR")
    event = mention(channel, "1700000002.000300", "Who confirmed it?", thread_ts="1700000000.1")
    send_event(service, event)
    [placeholder] = slack.wait_for("chat.postMessage", channel=channel)
    assert placeholder.params["thread_ts"] == "1700000000.1"


def test_answer_text_from_documents_is_escaped_and_neutralised(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CEVIL")
    send_event(service, mention(channel, "1700000003.000100", "evil question"))
    [update] = slack.wait_for("chat.update", channel=channel)
    everything = "\n".join([update.params["text"], *block_texts(update.params["blocks"])])
    for raw in ("<!channel>", "<!everyone>", "<@U999>", "<#C777|secret>", "<https://x.io|x>"):
        assert raw not in everything
    assert "&lt;!channel&gt;" in everything
    assert "&amp;" in everything
    assert f"@{ZWSP}here" in everything
    assert f"@{ZWSP}everyone" in everything
    assert "@here" not in everything.replace(f"@{ZWSP}here", "")
    assert "Degraded answer" in everything


def test_abstention_reads_as_not_in_the_documents(service: ServerThread, slack: FakeSlack) -> None:
    channel = next_id("CABST")
    send_event(service, mention(channel, "1700000004.000100", "abstain: weather in Kursk?"))
    [update] = slack.wait_for("chat.update", channel=channel)
    joined = "\n".join(block_texts(update.params["blocks"]))
    assert "Not in the documents:" in joined
    assert "no passage mentions the weather in Kursk" in joined
    assert update.params["text"].startswith("Not in the documents:")


def test_generator_error_becomes_a_friendly_message(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CBOOM")
    send_event(service, mention(channel, "1700000005.000100", "boom"))
    [update] = slack.wait_for("chat.update", channel=channel)
    assert update.params["text"] == FRIENDLY_ERROR_TEXT
    assert "secret-internal-detail" not in json.dumps(update.params)


def test_refused_answer_blocks_still_replace_the_placeholder(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CREFUSE")
    slack.fail_once("chat.update", "invalid_blocks")
    send_event(service, mention(channel, "1700000013.000100", "How many troops?"))
    [update] = slack.wait_for("chat.update", channel=channel)
    assert update.params["text"] == FRIENDLY_ERROR_TEXT
    [placeholder] = slack.calls_of("chat.postMessage", channel=channel)
    assert update.params["ts"] == placeholder.response["ts"]


def test_direct_message_is_answered_in_the_dm(service: ServerThread, slack: FakeSlack) -> None:
    channel = next_id("DIM")
    event = message(channel, "1700000006.000100", "How many troops?", channel_type="im")
    send_event(service, event)
    [placeholder] = slack.wait_for("chat.postMessage", channel=channel)
    assert "thread_ts" not in placeholder.params
    slack.wait_for("chat.update", channel=channel)


def test_reply_in_an_answered_thread_is_a_follow_up(
    service: ServerThread, slack: FakeSlack, answerer: FakeAnswerer
) -> None:
    channel = next_id("CFOLLOW")
    root = "1700000007.000100"
    send_event(service, mention(channel, root, "How many troops?"))
    slack.wait_for("chat.update", channel=channel)

    # Plain reply, no mention: answered in the same thread.
    send_event(service, message(channel, "1700000007.000200", "And who said so?", thread_ts=root))
    posts = slack.wait_for("chat.postMessage", count=2, channel=channel)
    assert all(p.params["thread_ts"] == root for p in posts)
    # The placeholder is posted before the question is answered: wait for the answer itself.
    slack.wait_for("chat.update", count=2, channel=channel)
    assert "And who said so?" in answerer.questions

    # Not answered: the bot's own message, an edit, and a thread the bot never answered.
    send_event(
        service, message(channel, "1700000007.000300", "bot", thread_ts=root, bot_id="BOTHER")
    )
    send_event(
        service,
        message(channel, "1700000007.000400", "edit", thread_ts=root, subtype="message_changed"),
    )
    send_event(service, message(channel, "1700000007.000500", "chatter", thread_ts="99.9"))
    send_event(service, message(channel, "1700000007.000600", "no thread"))
    settle()
    assert len(slack.calls_of("chat.postMessage", channel=channel)) == 2


def _now_ts() -> str:
    return f"{time.time():.6f}"


def test_thread_follow_up_is_answered_with_the_thread_as_history(
    service: ServerThread, slack: FakeSlack, answerer: FakeAnswerer
) -> None:
    channel = next_id("CHIST")
    root = _now_ts()
    first = "Who signed the mutual defense pact?"
    slack.add_message(channel, root, f"<@{BOT_USER_ID}> {first}")
    send_event(service, mention(channel, root, first))
    [first_answer] = slack.wait_for("chat.update", channel=channel)
    assert not slack.calls_of("conversations.replies", channel=channel)  # a new conversation
    assert not answerer.histories[-1]

    follow_ts = _now_ts()
    slack.add_message(channel, follow_ts, "When was it signed?", thread_ts=root)
    send_event(service, message(channel, follow_ts, "When was it signed?", thread_ts=root))
    updates = slack.wait_for("chat.update", count=2, channel=channel)
    [replies] = slack.calls_of("conversations.replies", channel=channel)
    assert replies.params["ts"] == root
    history: list[Turn] = list(answerer.histories[-1])
    assert len(history) == 1
    turn = history[0]
    assert turn.question == first
    assert turn.answer == first_answer.params["text"]
    joined = "\n".join(block_texts(updates[-1].params["blocks"]))
    assert "*Searched for:* When was the mutual defense pact signed?" in joined
    assert "*Searched for:*" not in "\n".join(block_texts(first_answer.params["blocks"]))

    # A new top-level mention in the same channel starts over: no history, nothing read.
    other = _now_ts()
    send_event(service, mention(channel, other, "When was it signed?"))
    slack.wait_for("chat.update", count=3, channel=channel)
    assert not answerer.histories[-1]
    assert len(slack.calls_of("conversations.replies", channel=channel)) == 1


def test_mention_in_a_followed_thread_arriving_twice_is_answered_once(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CTWICE")
    root = "1700000008.000100"
    send_event(service, mention(channel, root, "How many troops?"))
    slack.wait_for("chat.update", channel=channel)
    # Slack delivers one message that mentions the bot as app_mention AND message.channels.
    ts = "1700000008.000200"
    send_event(service, message(channel, ts, f"<@{BOT_USER_ID}> and then?", thread_ts=root))
    send_event(service, mention(channel, ts, "and then?", thread_ts=root))
    slack.wait_for("chat.update", count=2, channel=channel)
    settle()
    assert len(slack.calls_of("chat.postMessage", channel=channel)) == 2


# ------------------------------------------------------------------------- reliability


def test_slack_retry_of_a_handled_event_is_acked_and_not_answered_twice(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CRETRY")
    event = mention(channel, "1700000009.000100", "How many troops?")
    event_id = next_id("EvRetry")
    send_event(service, event, event_id=event_id)
    for attempt in ("1", "2"):
        send_event(
            service,
            event,
            event_id=event_id,
            headers={"X-Slack-Retry-Num": attempt, "X-Slack-Retry-Reason": "http_timeout"},
        )
    slack.wait_for("chat.update", channel=channel)
    settle()
    assert len(slack.calls_of("chat.postMessage", channel=channel)) == 1
    assert len(slack.calls_of("chat.update", channel=channel)) == 1


def test_ack_is_immediate_while_a_slow_answer_arrives_later(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("CSLOW")
    started = time.monotonic()
    send_event(service, mention(channel, "1700000010.000100", "slow question"))
    acked_after = time.monotonic() - started
    assert acked_after < 3.0
    assert slack.calls_of("chat.update", channel=channel) == []
    [update] = slack.wait_for("chat.update", channel=channel, timeout=20)
    assert update.at - started >= 4.5  # the generator slept 5 s after the ack
    assert "Over 10,000" in update.params["text"]


def test_rate_limited_web_api_call_is_retried_after_retry_after(
    service: ServerThread, slack: FakeSlack
) -> None:
    channel = next_id("C429")
    slack.rate_limit_once("chat.update")
    send_event(service, mention(channel, "1700000011.000100", "How many troops?"))
    [update] = slack.wait_for("chat.update", channel=channel)
    [limited] = [
        c
        for c in slack.calls
        if c.method == "chat.update" and c.status == 429 and c.params["channel"] == channel
    ]
    assert update.at - limited.at >= 1.0
    assert "Over 10,000" in update.params["text"]


# ----------------------------------------------------------------- slash command, buttons


def test_slash_command_acks_ephemerally_and_answers_via_response_url(
    service: ServerThread, slack: FakeSlack
) -> None:
    name = next_id("cmd")
    body = form_body(
        {
            "command": "/ask",
            "text": "How many troops were sent?",
            "user_id": "UHUMAN02",
            "channel_id": "CSLASH",
            "team_id": "T0000001",
            "response_url": slack.response_url(name),
            "trigger_id": "1.2.3",
        }
    )
    response = post_signed(service.url, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert ack["text"] == WORKING_TEXT
    [reply] = slack.wait_for("respond", _name=name)
    assert reply.params["response_type"] == "ephemeral"
    joined = "\n".join(block_texts(reply.params["blocks"]))
    assert "*Question:* How many troops were sent?" in joined
    assert "Over 10,000 North Korean troops" in joined


def test_feedback_click_appends_a_line_with_a_hashed_user(
    service: ServerThread, slack: FakeSlack, feedback_file: Path
) -> None:
    channel = next_id("CFEED")
    send_event(service, mention(channel, "1700000012.000100", "How many troops were sent?"))
    [update] = slack.wait_for("chat.update", channel=channel)
    [actions] = [b for b in update.params["blocks"] if b["type"] == "actions"]
    button = actions["elements"][1]  # Not helpful
    payload = {
        "type": "block_actions",
        "user": {"id": "UCLICKER", "team_id": "T0000001"},
        "team": {"id": "T0000001"},
        "api_app_id": "A0000001",
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel},
        "message": {"ts": update.params["ts"], "text": update.params["text"], "thread_ts": "1.0"},
        "response_url": slack.response_url(next_id("act")),
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": actions["block_id"],
                "value": button["value"],
                "action_ts": "1.1",
            }
        ],
    }
    body = form_body({"payload": json.dumps(payload)})
    response = post_signed(service.url, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    [thanks] = slack.wait_for("chat.postEphemeral", channel=channel)
    assert thanks.params["user"] == "UCLICKER"
    assert thanks.params["text"] == THANKS_TEXT

    raw = feedback_file.read_text(encoding="utf-8")
    assert "UCLICKER" not in raw
    [line] = [json.loads(x) for x in raw.splitlines() if x]
    salt = load_or_create_salt(salt_path_for(feedback_file))
    assert line["user_hash"] == hashlib.sha256(salt + b"\x00" + b"UCLICKER").hexdigest()
    assert line["verdict"] == "not_helpful"
    assert line["question"] == "How many troops were sent?"
    assert line["answer"].startswith("Over 10,000 North Korean troops")
    assert line["citations"][0]["doc_id"] == "004_114b54cabd2150fb"
    assert line["abstained"] is False
    assert line["model"] == "extractive"
    assert line["timestamp"].endswith("+00:00")


def test_signature_helper_agrees_with_slack_sdk_verifier() -> None:
    # The tests' signing must be Slack's, or the 401 tests would prove nothing.
    from slack_sdk.signature import SignatureVerifier

    body, now = "token=x&text=hello", int(time.time())
    stale = now - 301
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid(body, str(now), sign(body, now))
    assert not verifier.is_valid(body, str(now), sign(body, now, "other-secret"))
    assert not verifier.is_valid(body, str(stale), sign(body, stale))
