"""The bot's small stores: TTL de-dup set, feedback file (hashed users, concurrent appends),
answer memo and button values."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from service.feedback import FeedbackLog, load_or_create_salt, salt_path_for
from service.slack.dedupe import TtlSet
from service.slack.feedback import AnswerMemo, button_value, parse_button_value
from tests.fakes import sample_answer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ttl_set_claims_once_until_expiry() -> None:
    clock = FakeClock()
    seen = TtlSet(ttl_s=10, clock=clock)
    assert seen.add_if_new("Ev1")
    assert not seen.add_if_new("Ev1")
    clock.now = 9.9
    assert "Ev1" in seen
    clock.now = 10.1
    assert "Ev1" not in seen
    assert seen.add_if_new("Ev1")


def test_ttl_set_is_bounded() -> None:
    seen = TtlSet(ttl_s=100, max_items=3, clock=FakeClock())
    for key in "abcd":
        seen.add(key)
    assert len(seen) == 3
    assert "a" not in seen
    assert "d" in seen


def test_ttl_set_claim_is_atomic_across_threads() -> None:
    seen = TtlSet(ttl_s=100)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(seen.add_if_new("same"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_salt_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = salt_path_for(tmp_path / "deep" / "feedback.jsonl")
    first = load_or_create_salt(path)
    assert len(first) == 32
    assert load_or_create_salt(path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_feedback_lines_hash_the_user_and_survive_concurrent_appends(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "feedback.jsonl"
    log = FeedbackLog(path, salt=b"s" * 16)
    answer = sample_answer("q")

    def click(i: int) -> None:
        record = log.make_record(
            verdict="helpful" if i % 2 else "not_helpful",
            question=f"question {i}",
            answer=answer,
            user_id=f"U{i:04d}",
        )
        log.append(record)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 40
    assert sorted(x["question"] for x in lines) == sorted(f"question {i}" for i in range(40))
    raw = path.read_text(encoding="utf-8")
    assert "U0001" not in raw
    one = next(x for x in lines if x["question"] == "question 7")
    assert one["user_hash"] == hashlib.sha256(b"s" * 16 + b"\x00U0007").hexdigest()
    assert one["verdict"] == "helpful"
    assert one["citations"][0]["quote"].startswith("Reports from South Korean")
    assert {"timestamp", "answer", "abstained", "model", "index_version"} <= one.keys()


def test_feedback_without_the_answer_keeps_question_and_message_text(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "f.jsonl", salt=b"k" * 16)
    record = log.make_record(
        verdict="not_helpful", question="q?", answer=None, user_id="U1", answer_text="shown text"
    )
    assert (record.answer, record.citations, record.abstained) == ("shown text", [], None)


def test_short_salt_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="salt"):
        FeedbackLog(tmp_path / "f.jsonl", salt=b"short")


def test_memo_and_button_value_round_trip() -> None:
    memo = AnswerMemo(max_items=2)
    answer = sample_answer("q")
    key = memo.put("How many?", answer)
    value = button_value(key, "How many?")
    assert len(value) < 100
    assert parse_button_value(value) == (key, "How many?")
    assert memo.get(key) == ("How many?", answer)
    memo.put("b", answer)
    memo.put("c", answer)
    assert memo.get(key) is None  # bounded: the oldest went
    assert parse_button_value("not json") == ("", "")
    assert parse_button_value("[1]") == ("", "")
