"""The shared LRU cache: bounded, evicts the least recently used, refuses a useless size."""

from __future__ import annotations

import pytest

from index.lru import LruCache


def test_evicts_the_least_recently_used_entry() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)


def test_put_returns_the_value_and_clear_empties() -> None:
    cache: LruCache[str, list[int]] = LruCache(3)
    value = [1, 2]
    assert cache.put("k", value) is value
    cache.clear()
    assert cache.get("k") is None
    assert len(cache) == 0


def test_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LruCache(0)
