"""Keys claimed once across every worker, in PostgreSQL (Slack event ids, answered messages).

``add_if_new`` is one ``INSERT ... ON CONFLICT`` on the table's primary key, so of two workers
that receive the same Slack retry at the same moment exactly one gets True. An expired claim can
be taken again; expired rows are purged now and then.

Example::

    claims = PostgresClaims(store.pool, "slack-events", ttl_s=3600)
    if claims.add_if_new(event_id):
        answer()
"""

from __future__ import annotations

import itertools
from typing import Any

from index.errors import IndexStoreError

_PURGE_EVERY = 500


class PostgresClaims:
    """A shared, expiring set of keys with an atomic claim (the ``KeyClaims`` of the Slack bot)."""

    def __init__(self, pool: Any, namespace: str, *, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        self._pool = pool
        self._namespace = namespace
        self._ttl_s = float(ttl_s)
        self._calls = itertools.count(1)

    def add_if_new(self, key: str) -> bool:
        """Claims ``key``; True for the first claim (or after expiry), False for a repeat."""
        import psycopg

        try:
            with self._pool.connection() as conn:
                if next(self._calls) % _PURGE_EVERY == 0:
                    conn.execute("DELETE FROM claimed_keys WHERE expires_at < now()")
                row = conn.execute(
                    """INSERT INTO claimed_keys (namespace, key, expires_at)
                    VALUES (%s, %s, now() + make_interval(secs => %s))
                    ON CONFLICT (namespace, key) DO UPDATE SET expires_at = excluded.expires_at
                        WHERE claimed_keys.expires_at < now()
                    RETURNING 1""",
                    (self._namespace, key, self._ttl_s),
                ).fetchone()
        except psycopg.Error as exc:
            raise IndexStoreError(f"cannot claim key in the database: {exc}") from exc
        return row is not None
