"""The floor, through the real CLI and the real model: with ``CITEQA_DATABASE_URL`` set,
``citeqa ingest seeds`` then ``citeqa ask`` answers from pgvector, and no index folder is made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent


def test_postgres_cli_ingest_seeds_then_ask_answers_with_putin(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CITEQA_DATABASE_URL": postgres_url,
        "CITEQA_INDEX_DIR": str(tmp_path / "unused-index"),
    }
    citeqa = [sys.executable, "-m", "service.cli"]
    ingest = subprocess.run(
        [*citeqa, "ingest", "seeds"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert ingest.returncode == 0, ingest.stderr
    assert "database" in ingest.stdout
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)"
        ).fetchone()
    assert row is not None
    n_docs, n_chunks = row
    assert n_docs == len(list((REPO / "seeds").glob("*.txt")))
    assert n_chunks > n_docs
    ask = subprocess.run(
        [*citeqa, "ask", "Who signed the mutual defense pact?", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert "Putin" in answer["answer"]
    assert answer["citations"]
    assert answer["index_version"].startswith("pg-")
    assert not (tmp_path / "unused-index").exists()
