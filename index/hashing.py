"""Content hashes: the one sha256 helper for files, texts and derived ids.

File hashes are cached per (path, size, mtime), so verifying the model weights at every start-up
reads the 90 MB file once per process.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

_BLOCK = 1 << 20

# (resolved path, size, mtime_ns) -> sha256 hex; a file that changes gets a new key.
_file_cache: dict[tuple[str, int, int], str] = {}
_cache_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks; cached per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        cached = _file_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    value = digest.hexdigest()
    with _cache_lock:
        _file_cache[key] = value
    return value


def sha256_text(text: str) -> str:
    """sha256 hex of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def short_hash(*parts: str, length: int = 16) -> str:
    """The first ``length`` hex digits of the sha256 of ``parts`` joined by NUL characters."""
    return sha256_text("\0".join(parts))[:length]
