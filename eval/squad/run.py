"""Running a SQuAD-format dataset through a target (the in-process pipeline or a ``--url``
service), with the harness's shared ask-and-time step and document cache."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.aggregate import Metric, latency_of
from eval.harness import DocumentCache, Target, ask_item, warm_up
from eval.squad.data import SquadItem
from eval.squad.metrics import SquadScore, aggregate_squad, score_output


@dataclass(frozen=True)
class SquadItemRun:
    """What the target returned for one SQuAD-format question, and how it was judged."""

    item: SquadItem
    output: dict[str, Any]
    score: SquadScore


@dataclass(frozen=True)
class SquadRun:
    """The outcome of a SQuAD-format eval (see :mod:`eval.squad_metrics` for the metrics)."""

    runs: list[SquadItemRun]
    metrics: dict[str, Metric]
    latency: dict[str, dict[str, float]]
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def scores(self) -> list[SquadScore]:
        return [r.score for r in self.runs]


def run_squad(
    items: Sequence[SquadItem],
    target: Target,
    *,
    top_k: int | None = None,
    model: str | None = None,
    warmup: bool = False,
    on_item: Callable[[SquadItem], None] | None = None,
    config: Mapping[str, Any] | None = None,
) -> SquadRun:
    """Asks every question of a SQuAD-format dataset (sequentially) and scores the outputs."""
    if warmup:
        warm_up(target, top_k, model)
    started = time.perf_counter()
    docs = DocumentCache(target)
    runs: list[SquadItemRun] = []
    for item in items:
        output, error, timings = ask_item(target, item.id, item.question, top_k, model)
        score = score_output(item, output, docs.for_citations(output), error, timings)
        runs.append(SquadItemRun(item, output, score))
        if on_item is not None:
            on_item(item)
    scores = [r.score for r in runs]
    return SquadRun(
        runs=runs,
        metrics=aggregate_squad(scores),
        latency=latency_of([s.timings_ms for s in scores]),
        config={
            "target": target.description,
            "top_k": top_k,
            "model": model
            or next((str(r.output["model"]) for r in runs if r.output.get("model")), ""),
            "n_items": len(items),
            "documents_missing": sorted(docs.missing),
            **(config or {}),
        },
        seconds=time.perf_counter() - started,
    )
