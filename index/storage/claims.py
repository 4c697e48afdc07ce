"""``KeyClaims``: an atomic "first one wins" on keys, for state several workers must share.

Implementations: ``service.slack.dedupe.TtlSet`` (one process, in memory) and
:class:`index.storage.pg_claims.PostgresClaims` (every worker, through the database).
"""

from __future__ import annotations

from typing import Protocol


class KeyClaims(Protocol):
    """Claims keys; only the first claim of a key (until it expires) gets True."""

    def add_if_new(self, key: str) -> bool: ...
