"""What a Slack feedback button carries: a short key to the answer shown, and the question."""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping

from service.answering.types import Answer


class AnswerMemo:
    """The last ``max_items`` answers by short key, so a button click can log what was shown."""

    def __init__(self, max_items: int = 2000) -> None:
        self._max = max_items
        self._items: OrderedDict[str, tuple[str, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, question: str, answer: Answer) -> str:
        key = secrets.token_hex(6)
        with self._lock:
            self._items[key] = (question, answer)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> tuple[str, Answer] | None:
        with self._lock:
            return self._items.get(key)


def button_value(key: str, question: str) -> str:
    """The compact reference a feedback button carries: the memo key and the question.

    The question rides along so a click after a restart (memo empty) still logs what was asked.
    """
    return json.dumps({"k": key, "q": question[:1000]}, ensure_ascii=False, separators=(",", ":"))


def parse_button_value(value: str) -> tuple[str, str]:
    """(key, question) from a button value; empty strings for anything unreadable."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return "", ""
    if not isinstance(data, Mapping):
        return "", ""
    key, question = data.get("k", ""), data.get("q", "")
    return (key if isinstance(key, str) else ""), (question if isinstance(question, str) else "")
