"""State several workers share through PostgreSQL: Slack event de-duplication (a unique key),
claimed by separate processes and by two bots served as two workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from index.pg_corpus import PostgresCorpusIndex
from index.storage.pg_claims import PostgresClaims
from service.settings import Settings
from service.slack.http import mount
from tests.fakes import (
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    FakeAnswerer,
    FakeSlack,
    HashingEmbedder,
    ServerThread,
    event_body,
    post_signed,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
N_KEYS = 200

_CLAIMER = """
import sys
from psycopg_pool import ConnectionPool
from index.storage.pg_claims import PostgresClaims

pool = ConnectionPool(sys.argv[1], min_size=1, max_size=1, kwargs={"autocommit": True})
claims = PostgresClaims(pool, "slack-events", ttl_s=600)
won = [k for k in (f"Ev{i:04d}" for i in range(int(sys.argv[2]))) if claims.add_if_new(k)]
print(" ".join(won))
"""


@pytest.fixture
def schema_url(postgres_url: str) -> str:
    """A database with the citeqa schema (opening an index migrates it)."""
    PostgresCorpusIndex.open(postgres_url, HashingEmbedder(dim=64)).close()
    return postgres_url


def test_postgres_two_processes_claiming_the_same_keys_win_each_once(schema_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, schema_url, str(N_KEYS)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    first, second = (set(o) for o in outputs)
    assert not first & second
    assert first | second == {f"Ev{i:04d}" for i in range(N_KEYS)}


def test_postgres_claim_expires_and_can_be_taken_again(schema_url: str) -> None:
    with ConnectionPool(schema_url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        claims = PostgresClaims(pool, "test", ttl_s=0.2)
        other = PostgresClaims(pool, "other-namespace", ttl_s=60)
        assert claims.add_if_new("k")
        assert not claims.add_if_new("k")
        assert other.add_if_new("k")
        time.sleep(0.3)
        assert claims.add_if_new("k")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_postgres_slack_retry_delivered_to_another_worker_is_answered_once(
    schema_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack.api_url,
        feedback_file=tmp_path / "feedback.jsonl",
        database_url=SecretStr(schema_url),
    )
    answerer = FakeAnswerer()
    workers = []
    for _ in range(2):
        app = FastAPI()
        mount(app, settings, lambda: answerer)
        workers.append(ServerThread(app).start())
    try:
        channel = "CWORKERS1"
        event = {
            "type": "app_mention",
            "user": "UHUMAN01",
            "text": f"<@{BOT_USER_ID}> How many troops?",
            "ts": "1700000100.000100",
            "channel": channel,
            "event_ts": "1700000100.000100",
        }
        body = event_body(event, "EvTwoWorkers")
        assert post_signed(workers[0].url, body).status_code == 200
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert post_signed(workers[1].url, body, headers=retry).status_code == 200
        slack.wait_for("chat.update", channel=channel)
        time.sleep(0.6)  # room for a wrong second answer to show up
        assert len(slack.calls_of("chat.postMessage", channel=channel)) == 1
        with psycopg.connect(schema_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM claimed_keys WHERE namespace = 'slack-events' "
                "AND key = 'EvTwoWorkers'"
            ).fetchone()
            assert row == (1,)
    finally:
        for worker in workers:
            worker.stop()
