"""Crash-safe file writes: temp file in the same folder, flush, fsync, ``os.replace``, fsync dir."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename or a new file inside it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file written by a third-party library (faiss, numpy) to disk."""
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def fsync_tree(root: Path, *, skip_linked: bool = False) -> None:
    """fsync every file and folder below ``root`` (children first, then their parent).

    ``skip_linked`` leaves out files with more than one hard link: an index generation links
    the immutable files it shares with the previous one, which were flushed when first written,
    and only the new directory entries (the folders' fsync) need flushing.
    """
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = Path(dirpath) / name
            if skip_linked and path.stat().st_nlink > 1:
                continue
            fsync_file(path)
        fsync_dir(Path(dirpath))


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on clean exit it replaces ``path`` in one step.

    A crash before the ``os.replace`` leaves the old file untouched and a stray ``.tmp`` file
    that readers ignore.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports 'w' and 'wb', not {mode!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
