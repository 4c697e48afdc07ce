"""Readers' Helpful / Not helpful verdicts (Slack buttons, the web page), appended as JSON lines
the eval harness can mine for gold items (``citeqa eval --from-feedback``).

One line per click::

    {"timestamp": "2026-11-22T04:00:00+00:00", "verdict": "helpful", "question": "...",
     "answer": "...", "citations": [{"id": 1, "doc_id": ..., "quote": ..., ...}],
     "abstained": false, "model": "extractive", "prompt_version": "...", "index_version": "...",
     "user_hash": "<sha256 hex>", "source": "slack"}

No user id is ever written: ``user_hash`` is sha256 over a per-deployment secret salt and the
id, so clicks by one person can be grouped without the file identifying them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from index.storage.locks import locked_fd
from service.answering.types import Answer

logger = logging.getLogger(__name__)

Verdict = Literal["helpful", "not_helpful"]


def salt_path_for(feedback_file: Path) -> Path:
    """Where the salt for ``feedback_file`` is kept (next to it, readable by the owner only)."""
    return feedback_file.with_name(feedback_file.name + ".salt")


def load_or_create_salt(path: Path) -> bytes:
    """Reads the salt at ``path``, creating a random one (atomically, mode 0600) the first time."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, salt.hex().encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() fails if another process won the race; then its salt is the one to use.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


@dataclass(frozen=True)
class FeedbackRecord:
    """One click, as written to the feedback file."""

    timestamp: str
    verdict: Verdict
    question: str
    answer: str
    citations: list[dict[str, Any]]
    abstained: bool | None
    model: str
    prompt_version: str
    index_version: str
    user_hash: str
    source: str = "slack"


class FeedbackLog:
    """Append-only JSONL feedback file; safe across threads (lock) and processes (flock)."""

    def __init__(self, path: Path, salt: bytes) -> None:
        if len(salt) < 16:
            raise ValueError("the feedback salt must be at least 16 bytes")
        self.path = path
        self._salt = salt
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> FeedbackLog:
        """A log at ``path`` using (or creating) the salt file beside it."""
        return cls(path, load_or_create_salt(salt_path_for(path)))

    def hash_user(self, user_id: str) -> str:
        return hashlib.sha256(self._salt + b"\x00" + user_id.encode("utf-8")).hexdigest()

    def make_record(
        self,
        *,
        verdict: Verdict,
        question: str,
        answer: Answer | None,
        user_id: str,
        answer_text: str = "",
        now: datetime | None = None,
    ) -> FeedbackRecord:
        """Builds the line for a click; without ``answer`` (e.g. after a restart) only the
        question and the message text are known."""
        stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        return FeedbackRecord(
            timestamp=stamp,
            verdict=verdict,
            question=question,
            answer=answer.answer if answer is not None else answer_text,
            citations=[asdict(c) for c in answer.citations] if answer is not None else [],
            abstained=answer.abstained if answer is not None else None,
            model=answer.model if answer is not None else "",
            prompt_version=answer.prompt_version if answer is not None else "",
            index_version=answer.index_version if answer is not None else "",
            user_hash=self.hash_user(user_id),
        )

    def append(self, record: FeedbackRecord) -> None:
        """Appends one line and fsyncs it before returning."""
        line = (json.dumps(asdict(record), ensure_ascii=False, sort_keys=True) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                # O_APPEND makes each write land at the end; the flock keeps a line from
                # interleaving with another process's line if a write is ever split.
                with locked_fd(fd):
                    written = 0
                    while written < len(line):
                        written += os.write(fd, line[written:])
                    os.fsync(fd)
            finally:
                os.close(fd)
