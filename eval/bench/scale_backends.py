"""``citeqa bench --scale [N]``: every storage backend at N chunks, in one table.

Each backend contributes one function ``(ScaleConfig) -> list[ScaleRow]`` in its own module
(``eval/bench/scale_embedded.py`` for FAISS + BM25 files); :data:`BACKENDS` names them and
``--backend`` picks some (default: all).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eval.bench.scale_report import ScaleConfig, ScaleRow, print_scale_table

BackendBench = Callable[[ScaleConfig], list[ScaleRow]]


def _embedded(config: ScaleConfig) -> list[ScaleRow]:
    from eval.bench.scale_embedded import embedded_scale

    return embedded_scale(config)


# Backend name -> its bench; each imports its own dependencies only when run.
BACKENDS: dict[str, BackendBench] = {"embedded": _embedded}


def run_scale(config: ScaleConfig, names: Sequence[str]) -> list[ScaleRow]:
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend(s) {unknown}; known: {', '.join(BACKENDS)}")
    rows: list[ScaleRow] = []
    for name in names:
        rows.extend(BACKENDS[name](config))
    return rows


def scale_command(
    chunks: int, backends: Sequence[str], *, quick: bool, json_path: Path | None
) -> int:
    """Runs the scale report, prints the table and optionally writes JSON."""
    config = (
        ScaleConfig(chunks=chunks, runs=3, before_runs=1, queries=20, real_sample=200)
        if quick
        else ScaleConfig(chunks=chunks)
    )
    rows = run_scale(config, backends)
    print_scale_table(rows, config)
    if json_path is not None:
        from index.storage.atomic import atomic_write_text

        report: dict[str, Any] = {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
            "machine": {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg())},
            "rows": [asdict(r) for r in rows],
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
        print(f"wrote {json_path}")
    return 0
