"""What ``citeqa bench --scale [N]`` reports: rows of figures, one table with a ``backend``
column.

A row is one figure of one backend, with the same figure for the code before the change in the
``before`` column when the run measured it, and a note that says what was synthetic. The
backends and the command are in :mod:`eval.bench.scale_backends`. Nothing here asserts a time:
it is a benchmark, not a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ScaleConfig:
    """What a scale run measures (``--quick`` shrinks it for the smoke test)."""

    chunks: int = 100_000
    runs: int = 7  # single-document adds and deletes timed for p50
    before_runs: int = 2  # the same writes done the old way (a full rebuild each)
    queries: int = 200
    real_sample: int = 10_000  # chunks encoded with the real model for the quality figures
    workdir: Path | None = None


@dataclass(frozen=True)
class ScaleRow:
    """One figure of one backend at ``chunks`` chunks."""

    backend: str
    chunks: int
    figure: str
    value: str
    before: str = ""
    note: str = ""


def print_scale_table(rows: Sequence[ScaleRow], config: ScaleConfig) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"citeqa bench --scale {config.chunks}")
    for col in ("backend", "chunks", "figure", "value", "before", "note"):
        table.add_column(col, justify="right" if col in ("chunks", "value", "before") else "left")
    for r in rows:
        table.add_row(r.backend, f"{r.chunks:,}", r.figure, r.value, r.before, r.note)
    Console(width=max(Console().width, 160)).print(table)
