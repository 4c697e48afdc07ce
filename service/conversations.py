"""Server-side conversations (``POST /ask`` with ``conversation_id``): the turns of each
conversation, kept per API key with the index's state, expiring after a time without use.

``ConversationStore`` is the small protocol the HTTP adapter uses; ``SqliteConversationStore``
keeps the turns in one SQLite file under the index folder, with one writer at a time across
processes (the project's ``flock``) and threads. Another backend (e.g. Postgres) implements the
same three methods.

Example::

    store = SqliteConversationStore(index_dir / "conversations.sqlite3", ttl_s=86400)
    store.append("key#0", "c1", Turn("Who signed the pact?", "Kim and Putin [1]."))
    store.load("key#0", "c1")   # [Turn(...)]
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from index.storage.locks import exclusive_lock
from service.answering.conversation import Turn
from service.answering.types import Citation
from service.settings import Settings

FILE_NAME = "conversations.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    owner TEXT NOT NULL,
    conversation TEXT NOT NULL,
    seq INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (owner, conversation, seq)
)
"""


class ConversationStore(Protocol):
    """Turns of server-side conversations, kept apart per owner (API key)."""

    def load(self, owner: str, conversation_id: str, limit: int = 20) -> list[Turn]:
        """The most recent ``limit`` turns, oldest first; [] for an unknown or expired one."""
        ...

    def append(self, owner: str, conversation_id: str, turn: Turn) -> None: ...

    def close(self) -> None: ...


class SqliteConversationStore:
    """Conversations in one SQLite file; a conversation expires ``ttl_s`` after its last turn."""

    def __init__(self, path: Path, *, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self._now = clock
        self._lock = threading.Lock()
        self._lock_path = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        with self._lock, exclusive_lock(self._lock_path), self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def load(self, owner: str, conversation_id: str, limit: int = 20) -> list[Turn]:
        cutoff = self._now() - self.ttl_s
        with self._lock:
            rows = self._db.execute(
                "SELECT question, answer, citations, at FROM turns "
                "WHERE owner = ? AND conversation = ? ORDER BY seq DESC LIMIT ?",
                (owner, conversation_id, limit),
            ).fetchall()
        if not rows or max(r[3] for r in rows) < cutoff:
            return []
        return [Turn(q, a, _citations(c)) for q, a, c, _ in reversed(rows)]

    def append(self, owner: str, conversation_id: str, turn: Turn) -> None:
        now = self._now()
        with self._lock, exclusive_lock(self._lock_path), self._db:
            self._expire(now)
            (last,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), -1) FROM turns WHERE owner = ? AND conversation = ?",
                (owner, conversation_id),
            ).fetchone()
            self._db.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    owner,
                    conversation_id,
                    int(last) + 1,
                    turn.question,
                    turn.answer,
                    json.dumps([asdict(c) for c in turn.citations], ensure_ascii=False),
                    now,
                ),
            )

    def _expire(self, now: float) -> None:
        self._db.execute(
            "DELETE FROM turns WHERE (owner, conversation) IN (SELECT owner, conversation "
            "FROM turns GROUP BY owner, conversation HAVING MAX(at) < ?)",
            (now - self.ttl_s,),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(settings: Settings) -> ConversationStore:
    """The configured store: SQLite in the index folder."""
    return SqliteConversationStore(
        settings.index_dir / FILE_NAME, ttl_s=settings.conversation_ttl_s
    )


def _citations(text: str) -> tuple[Citation, ...]:
    data: Sequence[dict[str, object]] = json.loads(text)
    return tuple(Citation(**c) for c in data)  # type: ignore[arg-type]
