"""Eval results for people: rich tables in the terminal, report.json, report.md and PNG plots."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from eval import metrics as _metrics
from eval.aggregate import Metric
from eval.harness import EvalRun
from index.storage.atomic import atomic_open

HEADLINE = (
    "answer.accuracy",
    "answer.accuracy_answerable",
    "citation.validity",
    "citation.support",
    "citation.evidence_recall",
    "abstention.precision",
    "abstention.recall",
    "conflict.coverage",
    "injection.resistance",
    "retrieval.recall@1",
    "retrieval.recall@3",
    "retrieval.recall@5",
    "retrieval.recall@10",
    "retrieval.mrr",
    "retrieval.ndcg@10",
    "errors",
)
RETRIEVAL_KEYS = tuple(k for k in HEADLINE if k.startswith("retrieval."))


def _ordered(metrics: Mapping[str, Metric]) -> list[Metric]:
    return [metrics[k] for k in HEADLINE if k in metrics]


def metrics_table(run: EvalRun, title: str = "citeqa eval") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("result (count, % [95% CI])", justify="right")
    for m in _ordered(run.metrics):
        table.add_row(m.name, m.display())
    return table


def tag_table(run: EvalRun) -> Table:
    table = Table(title="accuracy per tag", title_justify="left")
    table.add_column("tag")
    table.add_column("accuracy", justify="right")
    for tag, m in run.by_tag.items():
        table.add_row(tag, m.display())
    return table


def latency_table(run: EvalRun) -> Table:
    return stage_latency_table(run.latency)


def stage_latency_table(latency: Mapping[str, Mapping[str, float]]) -> Table:
    """p50/p95/max/n per pipeline stage (``eval.aggregate.latency_of``'s shape)."""
    table = Table(title="latency (ms)", title_justify="left")
    for col in ("stage", "p50", "p95", "max", "n"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, s in latency.items():
        table.add_row(stage, f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['max']:.1f}", f"{s['n']:g}")
    return table


def progress_bar(console: Console, label: str) -> Progress:
    """The eval's progress bar: label, bar, done/total, elapsed, current item."""
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    return Progress(*columns, console=console, transient=False)


def compare_table(runs: Mapping[str, EvalRun]) -> Table:
    """Side by side: one column per retrieval mode."""
    table = Table(title="retrieval modes compared", title_justify="left")
    table.add_column("metric", no_wrap=True)
    for mode in runs:
        table.add_column(mode, justify="right")
    first = next(iter(runs.values()))
    for key in HEADLINE:
        if key in first.metrics and key != "errors":
            table.add_row(key, *(_short(r.metrics.get(key)) for r in runs.values()))
    table.add_row("latency total p50 (ms)", *(_lat(r, "total") for r in runs.values()))
    return table


def _short(m: Metric | None) -> str:
    if m is None or m.value is None:
        return "n/a"
    ci = f" [{100 * (m.ci_low or 0):.0f}-{100 * (m.ci_high or 0):.0f}]"
    return f"{100 * m.value:.1f}%{ci}"


def _lat(run: EvalRun, stage: str) -> str:
    s = run.latency.get(stage)
    return f"{s['p50']:.0f}" if s else "n/a"


def run_to_json(run: EvalRun) -> dict[str, Any]:
    items = []
    for r in run.runs:
        s = r.score
        items.append(
            {
                "id": r.item.id,
                "question": r.item.question,
                "tags": list(r.item.tags),
                "expected_behavior": r.item.expected_behavior,
                "correct": s.correct,
                "abstained": s.abstained,
                "groups_matched": list(s.groups),
                "forbidden_hit": s.forbidden_hit,
                "citations": [s.citations_valid, s.citations_total],
                "supported": s.supported,
                "claims": [s.claims_supported, s.claims_total],
                "evidence_cited": s.evidence_cited,
                "retrieval": None
                if s.retrieval is None
                else {
                    "recall": {str(k): v for k, v in s.retrieval.recall.items()},
                    "rr": s.retrieval.reciprocal_rank,
                    "ndcg10": s.retrieval.ndcg10,
                },
                "error": s.error,
                "timings_ms": s.timings_ms,
                "answer": r.output.get("answer", ""),
                "cited_docs": sorted(
                    {str(c.get("doc_id")) for c in r.output.get("citations") or ()}
                ),
            }
        )
    return {
        "config": run.config,
        "seconds": round(run.seconds, 3),
        "metrics": {k: m.to_json() for k, m in run.metrics.items()},
        "accuracy_by_tag": {k: m.to_json() for k, m in run.by_tag.items()},
        "latency_ms": run.latency,
        "items": items,
    }


def render_markdown(run: EvalRun, compare: Mapping[str, EvalRun] | None = None) -> str:
    cfg = run.config
    lines = [
        "# citeqa eval report",
        "",
        f"Target: {cfg.get('target')}; model: `{cfg.get('model')}`; retrieval: "
        f"`{cfg.get('retrieval')}`; items: {cfg.get('n_items')}; run time: {run.seconds:.1f} s.",
        "",
        "## Metrics",
        "",
        "| metric | count | value | 95% CI |",
        "|---|---:|---:|---:|",
    ]
    for m in _ordered(run.metrics):
        count = f"{m.num:g}/{m.den:g}" if m.counted else f"n={m.den:g}"
        value = "n/a" if m.value is None else f"{100 * m.value:.1f}%"
        ci = "" if m.ci_low is None else f"{100 * m.ci_low:.0f}-{100 * (m.ci_high or 0):.0f}%"
        lines.append(f"| {m.name} | {count} | {value} | {ci} |")
    lines += ["", "## Accuracy per tag", "", "| tag | result |", "|---|---:|"]
    lines += [f"| {t} | {m.display()} |" for t, m in run.by_tag.items()]
    lines += ["", "## Latency (ms)", "", "| stage | p50 | p95 | max |", "|---|---:|---:|---:|"]
    lines += [
        f"| {st} | {s['p50']:.1f} | {s['p95']:.1f} | {s['max']:.1f} |"
        for st, s in run.latency.items()
    ]
    if compare:
        modes = list(compare)
        lines += ["", "## Retrieval modes", "", "| metric | " + " | ".join(modes) + " |"]
        lines.append("|---|" + "---:|" * len(modes))
        for key in HEADLINE:
            if key != "errors":
                row = " | ".join(_short(compare[m].metrics.get(key)) for m in modes)
                lines.append(f"| {key} | {row} |")
    wrong = [r for r in run.runs if not r.score.correct]
    lines += ["", f"## Items judged wrong ({len(wrong)})", ""]
    for r in wrong:
        said = str(r.output.get("answer", "")).replace("\n", " ")[:160]
        why = r.score.error or (
            "abstained" if r.score.abstained else f"groups matched {list(r.score.groups)}"
        )
        lines.append(f"- `{r.item.id}` {r.item.question} ({why}): {said}")
    lines += ["", "## Definitions", "", (_metrics.__doc__ or "").strip(), ""]
    return "\n".join(lines)


def plot_accuracy_by_tag(run: EvalRun, path: Path) -> None:
    """Bar chart of accuracy per tag with bootstrap 95% CI error bars and n under each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in run.by_tag.values() if m.value is not None]
    labels = [f"{m.name.removeprefix('tag.')}\n{m.num:g}/{m.den:g}" for m in metrics]
    values = [100 * (m.value or 0) for m in metrics]
    low = [100 * ((m.value or 0) - (m.ci_low or 0)) for m in metrics]
    high = [100 * ((m.ci_high or 0) - (m.value or 0)) for m in metrics]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(metrics)), 4.5))
    ax.bar(range(len(metrics)), values, yerr=[low, high], capsize=4, color="#4C72B0")
    ax.set_xticks(range(len(metrics)), labels, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(
        f"Accuracy per tag, 95% bootstrap CI ({run.config.get('model')}, "
        f"{run.config.get('retrieval')})"
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_latency(run: EvalRun, path: Path) -> None:
    """Box plot of per-question latency for each pipeline stage."""
    plot_stage_latency([s.timings_ms for s in run.scores], path)


def plot_stage_latency(timings: Sequence[Mapping[str, float]], path: Path) -> None:
    """Box plot of per-question ``{stage: ms}`` timings, one box per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages: dict[str, list[float]] = {}
    for per_item in timings:
        for stage, ms in per_item.items():
            stages.setdefault(stage, []).append(ms)
    order = ("retrieve", "prompt", "generate", "verify", "total", "wall")
    names = [n for n in order if n in stages] + sorted(set(stages) - set(order))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if names:
        ax.boxplot([stages[n] for n in names], showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names)
        ax.set_yscale("symlog", linthresh=1.0)
        top = max(max(v) for v in stages.values())
        ax.set_ylim(0, max(10.0, top * 2.0))  # headroom so the slowest outliers stay visible
    ax.set_ylabel("ms per question (symlog)")
    ax.set_title(f"Latency per stage (n={len(timings)} questions)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_compare(runs: Mapping[str, EvalRun], path: Path, keys: Sequence[str]) -> None:
    """Grouped bars: one group per metric, one bar per retrieval mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(keys)), 4.5))
    width = 0.8 / max(1, len(runs))
    for i, (mode, run) in enumerate(runs.items()):
        vals = [100 * (run.metrics[k].value or 0) for k in keys]
        xs = [j + i * width for j in range(len(keys))]
        ax.bar(xs, vals, width=width, label=mode)
    labels = [k.removeprefix("retrieval.") for k in keys]
    ticks = [j + width * (len(runs) - 1) / 2 for j in range(len(keys))]
    ax.set_xticks(ticks, labels, fontsize=8, rotation=20, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title("Retrieval modes compared")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def set_readable(path: Path) -> None:
    """atomic_open's temp files are private (0600); reports and baselines are meant to be shared."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def save_figure(fig: Any, path: Path) -> None:
    """A matplotlib figure as a PNG, written atomically and readable by all."""
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    set_readable(path)


def write_outputs(
    run: EvalRun, out_dir: Path, compare: Mapping[str, EvalRun] | None = None
) -> list[Path]:
    """Writes report.json, report.md and the PNG plots into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = run_to_json(run)
    if compare:
        data["compare"] = {
            mode: {k: m.to_json() for k, m in r.metrics.items()} for mode, r in compare.items()
        }
    written = [out_dir / "report.json", out_dir / "report.md"]
    with atomic_open(written[0]) as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    with atomic_open(written[1]) as fh:
        fh.write(render_markdown(run, compare))
    for path in written:
        set_readable(path)
    plot_accuracy_by_tag(run, out_dir / "accuracy_by_tag.png")
    plot_latency(run, out_dir / "latency.png")
    written += [out_dir / "accuracy_by_tag.png", out_dir / "latency.png"]
    if compare:
        keys = [*RETRIEVAL_KEYS, "answer.accuracy", "citation.evidence_recall"]
        plot_compare(compare, out_dir / "compare.png", keys)
        written.append(out_dir / "compare.png")
    return written
