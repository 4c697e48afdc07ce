"""The one inter-process lock: an exclusive ``flock`` on a file (writers of an index, the model
export, the feedback log). Threads of one process need their own ``threading.Lock`` as well:
``flock`` is per open file, so two threads with separate opens would each get it."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def locked_fd(fd: int) -> Iterator[None]:
    """Holds an exclusive ``flock`` on the open file descriptor ``fd`` for the block."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on the file ``path`` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as fh, locked_fd(fh.fileno()):
        yield
