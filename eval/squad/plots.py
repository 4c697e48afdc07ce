"""The SQuAD-format report's plots: reliability diagram and per-question-type bars (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval import report as base
from eval.squad.metrics import QtypeRow, ReliabilityBin


def plot_reliability(bins: Sequence[ReliabilityBin], ece: float, path: Path) -> None:
    """Reliability diagram: share correct per confidence bin against the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    mids = [(b.low + b.high) / 2 for b in bins]
    ax.bar(mids, [b.accuracy for b in bins], width=0.09, alpha=0.7, color="#4C72B0")
    ax.plot([b.mean_confidence for b in bins], [b.accuracy for b in bins], "o-", color="#C44E52")
    for x, b in zip(mids, bins, strict=True):
        ax.annotate(str(b.n), (x, b.accuracy), ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share correct (answered questions)")
    ax.set_title(f"Reliability, ECE {ece:.3f}")
    fig.tight_layout()
    base.save_figure(fig, path)
    plt.close(fig)


def plot_by_qtype(rows: Sequence[QtypeRow], path: Path) -> None:
    """Correct+cited and unanswerable-refused shares per question type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(rows)), 4.5))
    ax.bar(
        [x - 0.2 for x in xs],
        [100 * (r.correct_cited or 0) for r in rows],
        0.4,
        label="answerable: correct+cited",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [100 * (r.unanswerable_refused or 0) for r in rows],
        0.4,
        label="unanswerable: refused",
    )
    labels = [f"{r.qtype}\n{r.answerable}+{r.unanswerable}" for r in rows]
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.legend(fontsize=8)
    ax.set_title("Per question type (n answerable + unanswerable)")
    fig.tight_layout()
    base.save_figure(fig, path)
    plt.close(fig)
