"""Bounded, expiring memory of keys seen: Slack event ids, answered messages and threads."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class TtlSet:
    """A set whose members expire after ``ttl_s`` seconds; holds at most ``max_items`` (oldest go).

    Thread-safe. ``add_if_new`` is the atomic "claim": only the first caller for a key gets True,
    which is how a Slack retry (same ``event_id``) or the second event for one message is dropped.
    """

    def __init__(
        self,
        ttl_s: float,
        max_items: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0 or max_items < 1:
            raise ValueError("ttl_s must be > 0 and max_items >= 1")
        self._ttl = ttl_s
        self._max = max_items
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _purge(self, now: float) -> None:
        # Keys are kept in insertion order and share one ttl, so expired ones sit at the front.
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                break
            del self._expiry[key]
        while len(self._expiry) > self._max:
            self._expiry.popitem(last=False)

    def add_if_new(self, key: str) -> bool:
        """Adds ``key``; True if it was not present (or had expired), False for a repeat."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            if key in self._expiry:
                return False
            self._expiry[key] = now + self._ttl
            self._purge(now)
            return True

    def add(self, key: str) -> None:
        """Adds or refreshes ``key``."""
        with self._lock:
            now = self._clock()
            self._expiry.pop(key, None)
            self._expiry[key] = now + self._ttl
            self._purge(now)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            self._purge(self._clock())
            return key in self._expiry

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._expiry)
