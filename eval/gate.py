"""The regression gate: a committed baseline of metric values, each with a stated tolerance.

``citeqa eval --gate`` fails when a gated metric falls below ``baseline - tolerance``. Every gated
metric is "higher is better". ``citeqa eval --update-baseline`` is the only writer of
``eval/baseline.json`` (atomically).

Tolerance rule (small-set noise): one item's worth of the metric's denominator, at least 0.02:
``tolerance = max(0.02, ceil(100 / den) / 100)``. With 60 items, accuracy may move by one item
(0.02) without failing; conflict coverage over 4 items may lose one item (0.25). A drop of two
items fails. The default generator is deterministic, so any drop beyond one item is a change
someone made, not chance. Latency is reported but not gated (the machine is shared).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from eval.aggregate import Metric
from index.errors import InvalidDocumentError
from index.hashing import sha256_file
from index.storage.atomic import atomic_open

DEFAULT_BASELINE_PATH = Path(__file__).resolve().parent / "baseline.json"
GATED = (
    "answer.accuracy",
    "answer.accuracy_answerable",
    "citation.validity",
    "citation.support",
    "citation.evidence_recall",
    "abstention.precision",
    "abstention.recall",
    "conflict.coverage",
    "injection.resistance",
    "retrieval.recall@5",
    "retrieval.recall@10",
    "retrieval.mrr",
    "retrieval.ndcg@10",
)
MIN_TOLERANCE = 0.02


class Scored(Protocol):
    """A finished run the gate can read (``EvalRun``, ``SquadRun``)."""

    @property
    def metrics(self) -> Mapping[str, Metric]: ...

    @property
    def config(self) -> Mapping[str, Any]: ...


def default_tolerance(metric: Metric) -> float:
    if metric.den <= 0:
        return MIN_TOLERANCE
    return max(MIN_TOLERANCE, math.ceil(100.0 / metric.den - 1e-9) / 100.0)


@dataclass(frozen=True)
class Baseline:
    """Baseline values and tolerances plus how they were produced."""

    metrics: dict[str, tuple[float, float]]  # name -> (value, tolerance)
    metadata: dict[str, Any]


@dataclass(frozen=True)
class GateRow:
    name: str
    baseline: float
    tolerance: float
    current: float | None

    @property
    def passed(self) -> bool:
        return self.current is not None and self.current >= self.baseline - self.tolerance - 1e-9


def load_baseline(path: Path = DEFAULT_BASELINE_PATH) -> Baseline:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidDocumentError(
            str(path), "no baseline yet; create it with `citeqa eval --update-baseline`"
        ) from exc
    except json.JSONDecodeError as exc:
        raise InvalidDocumentError(str(path), f"not valid JSON ({exc.msg})") from exc
    metrics_raw = raw.get("metrics") if isinstance(raw, dict) else None
    if not isinstance(metrics_raw, dict):
        raise InvalidDocumentError(str(path), "expected {'metadata': {...}, 'metrics': {...}}")
    metrics: dict[str, tuple[float, float]] = {}
    for name, entry in metrics_raw.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("value"), int | float)
            and isinstance(entry.get("tolerance"), int | float)
        ):
            raise InvalidDocumentError(str(path), f"metric {name!r} needs 'value' and 'tolerance'")
        metrics[name] = (float(entry["value"]), float(entry["tolerance"]))
    metadata = raw.get("metadata", {})
    return Baseline(metrics, metadata if isinstance(metadata, dict) else {})


def check(run: Scored, baseline: Baseline) -> list[GateRow]:
    """One row per baseline metric; a metric the run lacks (None) fails."""
    rows = []
    for name, (value, tol) in baseline.metrics.items():
        metric = run.metrics.get(name)
        rows.append(GateRow(name, value, tol, None if metric is None else metric.value))
    return rows


def baseline_json(
    run: Scored, gold_path: Path, extra: Mapping[str, Any], gated: Sequence[str] = GATED
) -> dict[str, Any]:
    metrics = {}
    for name in gated:
        m = run.metrics.get(name)
        if m is None or m.value is None:
            continue
        metrics[name] = {
            "value": round(m.value, 4),
            "tolerance": default_tolerance(m),
            "count": f"{m.num:g}/{m.den:g}" if m.counted else f"n={m.den:g}",
        }
    metadata = {
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gold_file": gold_path.name,
        "gold_sha256": sha256_file(gold_path),
        "n_items": run.config.get("n_items"),
        "model": run.config.get("model"),
        "retrieval": run.config.get("retrieval"),
        "top_k": run.config.get("top_k"),
        "tolerance_rule": "max(0.02, one item of the denominator); higher is better; "
        "fails when current < value - tolerance",
        "update_command": "citeqa eval --update-baseline",
        **extra,
    }
    return {"metadata": metadata, "metrics": metrics}


def write_baseline(path: Path, data: Mapping[str, Any]) -> None:
    from eval.report import set_readable

    with atomic_open(path) as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    set_readable(path)


@dataclass(frozen=True)
class Invariant:
    """A check with no tolerance (e.g. no misplaced citation), shown with the gate's rows."""

    name: str
    passed: bool
    detail: str


def report_gate(
    run: Scored,
    baseline: Baseline,
    source_path: Path,
    out: Console,
    err: Console,
    invariants: Sequence[Invariant] = (),
) -> int:
    """Prints the gate table; 1 when a metric dropped beyond its tolerance or an invariant
    failed, else 0. ``source_path`` is the questions file the baseline's hash refers to."""
    if baseline.metadata.get("gold_sha256") not in (None, sha256_file(source_path)):
        err.print(f"citeqa eval: warning: {source_path.name} changed since the baseline was set")
    rows = check(run, baseline)
    table = Table(title="eval gate (fails when current < baseline - tolerance)")
    for col in ("metric", "baseline", "tolerance", "current", "status"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in rows:
        current = "missing" if row.current is None else f"{row.current:.4f}"
        status = "ok" if row.passed else "[bold red]DROPPED[/]"
        table.add_row(row.name, f"{row.baseline:.4f}", f"{row.tolerance:.2f}", current, status)
    for inv in invariants:
        status = "ok" if inv.passed else "[bold red]FAILED[/]"
        table.add_row(inv.name, "", "0", inv.detail, status)
    out.print(table)
    failed = [r for r in rows if not r.passed]
    for r in failed:
        now = "missing" if r.current is None else f"{r.current:.4f}"
        print(
            f"citeqa eval: gate FAILED: {r.name} {now} < baseline {r.baseline:.4f} "
            f"- tolerance {r.tolerance:.2f}",
            file=sys.stderr,
        )
    broken = [inv for inv in invariants if not inv.passed]
    for inv in broken:
        print(f"citeqa eval: gate FAILED: {inv.name}: {inv.detail}", file=sys.stderr)
    if failed or broken:
        return 1
    extra = f", {len(invariants)} invariants" if invariants else ""
    out.print(f"eval gate passed ({len(rows)} metrics{extra})")
    return 0


def update_baseline(
    run: Scored,
    source_path: Path,
    path: Path,
    extra: Mapping[str, Any],
    out: Console,
    err: Console,
    gated: Sequence[str] = GATED,
) -> int:
    """Writes the baseline of ``run`` (refused when any request failed)."""
    errors = run.metrics.get("errors")
    if errors is not None and errors.num:
        err.print(f"citeqa eval: not updating the baseline: {errors.num:g} request(s) failed")
        return 1
    write_baseline(path, baseline_json(run, source_path, extra, gated))
    out.print(f"baseline written to {path}")
    return 0
