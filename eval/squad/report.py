"""SQuAD-format eval results for people: terminal tables, report.json, report.md and PNG plots.

Sections (terminal, report.md and report.json alike): metrics, answers (misplaced citations,
median answer words, latency), per question type, reliability (when the outputs carry a
``confidence``), and the failures (question, gold answers, what was answered).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from eval import report as base
from eval.aggregate import Metric
from eval.squad import data as squad_data
from eval.squad import metrics as squad_metrics
from eval.squad.metrics import (
    HEADLINE_SQUAD,
    ReliabilityBin,
    by_qtype,
    median_answer_words,
    misplaced_citations,
    reliability,
)
from eval.squad.plots import plot_by_qtype, plot_reliability
from eval.squad.run import SquadItemRun, SquadRun
from index.storage.atomic import atomic_open

SECTIONS = ("Metrics", "Answers", "Latency", "Per question type", "Reliability", "Failures")


def failures(run: SquadRun) -> list[SquadItemRun]:
    """Answerable questions not answered correctly with a covering citation, and unanswerable
    ones answered (errors included), in dataset order."""
    return [r for r in run.runs if not r.score.handled]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _said(r: SquadItemRun, limit: int = 200) -> str:
    if r.score.error:
        return f"error: {r.score.error}"
    if r.score.abstained:
        return f"(abstained: {r.score.abstain_code or r.output.get('abstain_reason') or '?'})"
    return " ".join(str(r.output.get("answer", "")).split())[:limit]


def _why(r: SquadItemRun) -> str:
    s = r.score
    if s.error:
        return "error"
    if not s.answerable:
        return "answered an unanswerable question"
    if s.abstained:
        return "false refusal"
    if not s.contains:
        return "gold answer not in the answer" + ("" if s.cited else ", no covering citation")
    return "no citation covers a gold span"


def summary_numbers(run: SquadRun) -> dict[str, Any]:
    wall = run.latency.get("wall", {})
    return {
        "misplaced_citations": misplaced_citations(run.scores),
        "median_answer_words": median_answer_words(run.scores),
        "latency_p50_ms": wall.get("p50"),
        "latency_p95_ms": wall.get("p95"),
    }


def metrics_table(run: SquadRun, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("result (count, % [95% CI])", justify="right")
    for key in HEADLINE_SQUAD:
        table.add_row(key, run.metrics[key].display())
    nums = summary_numbers(run)
    table.add_row("citations not at their offsets", str(nums["misplaced_citations"]))
    words = nums["median_answer_words"]
    table.add_row("median answer words (answerable)", "n/a" if words is None else f"{words:g}")
    for q in ("p50", "p95"):
        ms = nums[f"latency_{q}_ms"]
        table.add_row(f"latency {q} (ms, wall)", "n/a" if ms is None else f"{ms:.0f}")
    return table


def qtype_table(run: SquadRun) -> Table:
    table = Table(title="per question type", title_justify="left")
    for col in ("qtype", "answerable", "correct+cited", "false refusals", "unans.", "refused"):
        table.add_column(col, justify="left" if col == "qtype" else "right")
    for row in by_qtype(run.scores):
        table.add_row(
            row.qtype,
            str(row.answerable),
            _pct(row.correct_cited),
            _pct(row.false_refusal),
            str(row.unanswerable),
            _pct(row.unanswerable_refused),
        )
    return table


def reliability_table(bins: Sequence[ReliabilityBin], ece: float) -> Table:
    table = Table(title=f"reliability of answered questions, ECE {ece:.3f}", title_justify="left")
    for col in ("confidence", "n", "mean confidence", "correct"):
        table.add_column(col, justify="left" if col == "confidence" else "right")
    for b in bins:
        table.add_row(
            f"{b.low:.1f}-{b.high:.1f}", str(b.n), f"{b.mean_confidence:.3f}", f"{b.accuracy:.3f}"
        )
    return table


def failures_text(run: SquadRun, limit: int) -> Text:
    """The first ``limit`` failures, two lines each (report.md lists all of them)."""
    failed = failures(run)
    shown = failed[: max(0, limit)]
    more = f", first {len(shown)}; report.md lists all" if len(shown) < len(failed) else ""
    text = Text(f"failures ({len(failed)}{more})\n", style="italic")
    for r in shown:
        gold = " | ".join(dict.fromkeys(r.item.answers)) or "(unanswerable)"
        text.append(f"- {r.item.question}\n", style="bold")
        text.append(f"  gold: {gold}; {_why(r)}; answered: {_said(r, 100)}\n")
    return text


def tables(run: SquadRun, failure_limit: int = 20) -> list[Table | Text]:
    """Every terminal section, in order."""
    out: list[Table | Text] = [
        metrics_table(run, f"citeqa eval squad2 ({run.config.get('target')})"),
        qtype_table(run),
    ]
    rel = reliability(run.scores)
    if rel is not None:
        out.append(reliability_table(*rel))
    out += [base.stage_latency_table(run.latency), failures_text(run, failure_limit)]
    return out


def _metric_json(m: Metric) -> dict[str, object]:
    return m.to_json()


def run_to_json(run: SquadRun) -> dict[str, Any]:
    rel = reliability(run.scores)
    items = []
    for r in run.runs:
        s = r.score
        items.append(
            {
                "id": s.id,
                "question": r.item.question,
                "doc_id": s.doc_id,
                "qtype": s.qtype,
                "answerable": s.answerable,
                "answers": list(r.item.answers),
                "correct": s.correct,
                "handled": s.handled,
                "abstained": s.abstained,
                "abstain_code": s.abstain_code,
                "contains_gold": s.contains,
                "cites_gold": s.cited,
                "citations": [s.citations_valid, s.citations_total],
                "confidence": s.confidence,
                "words": s.words,
                "error": s.error,
                "timings_ms": s.timings_ms,
                "answer": r.output.get("answer", ""),
                "cited": [
                    [c.get("doc_id"), c.get("start"), c.get("end")]
                    for c in r.output.get("citations") or ()
                ],
            }
        )
    return {
        "config": run.config,
        "seconds": round(run.seconds, 3),
        "metrics": {k: _metric_json(m) for k, m in run.metrics.items()},
        **summary_numbers(run),
        "latency_ms": run.latency,
        "by_qtype": [vars(row) for row in by_qtype(run.scores)],
        "reliability": None if rel is None else {"ece": rel[1], "bins": [vars(b) for b in rel[0]]},
        "failures": [
            {
                "id": r.item.id,
                "question": r.item.question,
                "gold": list(r.item.answers),
                "answered": _said(r, 10_000),
                "why": _why(r),
            }
            for r in failures(run)
        ],
        "items": items,
    }


def render_markdown(run: SquadRun) -> str:
    cfg = run.config
    lines = [
        "# citeqa eval report: SQuAD 2.0 format",
        "",
        f"Dataset: `{cfg.get('dataset')}`; sample: {cfg.get('sample') or 'all'} (seed "
        f"{cfg.get('seed')}); target: {cfg.get('target')}; model: `{cfg.get('model')}`; "
        f"retrieval: `{cfg.get('retrieval')}`; top_k: {cfg.get('top_k')}; questions: "
        f"{cfg.get('n_items')}; run time: {run.seconds:.1f} s.",
        "",
        "## Metrics",
        "",
        "| metric | count | value | 95% CI |",
        "|---|---:|---:|---:|",
    ]
    for key in HEADLINE_SQUAD:
        m = run.metrics[key]
        ci = "" if m.ci_low is None else f"{100 * m.ci_low:.0f}-{100 * (m.ci_high or 0):.0f}%"
        lines.append(f"| {key} | {m.num:g}/{m.den:g} | {_pct(m.value)} | {ci} |")
    nums = summary_numbers(run)
    words = nums["median_answer_words"]
    lines += [
        "",
        "## Answers",
        "",
        f"- citations whose quote is not at its offsets: {nums['misplaced_citations']}",
        f"- median answer words (answered, answerable): {'n/a' if words is None else words}",
        "",
        "## Latency",
        "",
        "| stage | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {st} | {s['p50']:.1f} | {s['p95']:.1f} | {s['max']:.1f} |"
        for st, s in run.latency.items()
    ]
    lines += ["", "## Per question type", ""]
    lines += ["| qtype | answerable | correct+cited | false refusals | unanswerable | refused |"]
    lines += ["|---|---:|---:|---:|---:|---:|"]
    for row in by_qtype(run.scores):
        lines.append(
            f"| {row.qtype} | {row.answerable} | {_pct(row.correct_cited)} | "
            f"{_pct(row.false_refusal)} | {row.unanswerable} | {_pct(row.unanswerable_refused)} |"
        )
    lines += ["", "## Reliability", ""]
    rel = reliability(run.scores)
    if rel is None:
        lines.append("The outputs carry no `confidence`; no reliability table.")
    else:
        lines += [f"ECE {rel[1]:.3f} over answered questions.", ""]
        lines += ["| confidence | n | mean confidence | correct |", "|---|---:|---:|---:|"]
        lines += [
            f"| {b.low:.1f}-{b.high:.1f} | {b.n} | {b.mean_confidence:.3f} | {b.accuracy:.3f} |"
            for b in rel[0]
        ]
    failed = failures(run)
    lines += ["", f"## Failures ({len(failed)})", ""]
    for r in failed:
        gold = " | ".join(dict.fromkeys(r.item.answers)) or "(unanswerable)"
        lines.append(f"- `{r.item.id}` {r.item.question} — gold: {gold} — {_why(r)}: {_said(r)}")
    lines += ["", "## Definitions", "", (squad_data.__doc__ or "").strip(), ""]
    lines += [(squad_metrics.__doc__ or "").strip(), ""]
    return "\n".join(lines)


def write_outputs(run: SquadRun, out_dir: Path) -> list[Path]:
    """report.json, report.md and the PNGs (reliability only when confidences exist)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json", out_dir / "report.md"]
    with atomic_open(written[0]) as fh:
        json.dump(run_to_json(run), fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    with atomic_open(written[1]) as fh:
        fh.write(render_markdown(run))
    for path in written:
        base.set_readable(path)
    base.plot_stage_latency([s.timings_ms for s in run.scores], out_dir / "latency.png")
    plot_by_qtype(by_qtype(run.scores), out_dir / "by_qtype.png")
    written += [out_dir / "latency.png", out_dir / "by_qtype.png"]
    rel = reliability(run.scores)
    if rel is not None:
        plot_reliability(*rel, out_dir / "reliability.png")
        written.append(out_dir / "reliability.png")
    return written
