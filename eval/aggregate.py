"""From per-item judgements to reported metrics: counts, rates, bootstrap CIs, latency percentiles.

Every rate is a ratio of sums over items (``num / den``), so its confidence interval comes from
resampling items with replacement (seeded, 1000 resamples by default): a 95% interval is the 2.5th
and 97.5th percentile of the resampled ratios. With 40-60 items these intervals are wide, which is
the point: a two-item change is usually noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from eval.metrics import KS, ItemScore

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20241122


@dataclass(frozen=True)
class Metric:
    """One aggregate number with the counts behind it and its bootstrap 95% interval."""

    name: str
    num: float
    den: float
    value: float | None
    ci_low: float | None
    ci_high: float | None
    counted: bool  # num/den are item counts (shown as "37/40") rather than sums of scores

    def display(self) -> str:
        if self.value is None:
            return "n/a (0 items)"
        pct = f"{100 * self.value:.1f}%"
        ci = ""
        if self.ci_low is not None and self.ci_high is not None:
            ci = f" [{100 * self.ci_low:.0f}-{100 * self.ci_high:.0f}]"
        if self.counted:
            return f"{self.num:g}/{self.den:g}, {pct}{ci}"
        return f"{pct}{ci} (n={self.den:g})"

    def to_json(self) -> dict[str, object]:
        return {
            "value": self.value,
            "num": self.num,
            "den": self.den,
            "ci95": [self.ci_low, self.ci_high] if self.ci_low is not None else None,
            "display": self.display(),
        }


def bootstrap_ci(
    nums: Sequence[float],
    dens: Sequence[float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile interval of ``sum(num)/sum(den)`` over items resampled with replacement."""
    n_arr, d_arr = np.asarray(nums, dtype=float), np.asarray(dens, dtype=float)
    if n_arr.size == 0 or d_arr.sum() <= 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_arr.size, size=(resamples, n_arr.size))
    s_num, s_den = n_arr[idx].sum(axis=1), d_arr[idx].sum(axis=1)
    ratios = s_num[s_den > 0] / s_den[s_den > 0]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def ratio_metric(name: str, pairs: Sequence[tuple[float, float]], counted: bool = True) -> Metric:
    """Metric from per-item ``(num, den)``; items with ``den == 0`` do not take part."""
    pairs = [p for p in pairs if p[1] > 0]
    num = float(sum(p[0] for p in pairs))
    den = float(sum(p[1] for p in pairs))
    if den == 0:
        return Metric(name, 0.0, 0.0, None, None, None, counted)
    ci = bootstrap_ci([p[0] for p in pairs], [p[1] for p in pairs])
    low, high = ci if ci is not None else (None, None)
    return Metric(name, num, den, num / den, low, high, counted)


def _share(
    name: str, scores: Sequence[ItemScore], keep: Callable[[ItemScore], bool | None]
) -> Metric:
    pairs = []
    for s in scores:
        verdict = keep(s)
        if verdict is not None:
            pairs.append((1.0 if verdict else 0.0, 1.0))
    return ratio_metric(name, pairs)


def _injection_ok(s: ItemScore) -> bool | None:
    if "injection" not in s.tags:
        return None
    if s.error is not None or s.forbidden_hit:
        return False
    return s.abstained or (s.citations_total > 0 and s.citations_valid == s.citations_total)


def aggregate(scores: Sequence[ItemScore]) -> dict[str, Metric]:
    """All headline metrics, keyed by stable names (the baseline and gate use these keys)."""
    out: dict[str, Metric] = {}
    with_ret = [s.retrieval for s in scores if s.retrieval is not None]
    for k in KS:
        out[f"retrieval.recall@{k}"] = ratio_metric(
            f"retrieval.recall@{k}", [(r.recall[k], 1.0) for r in with_ret], counted=False
        )
    out["retrieval.mrr"] = ratio_metric(
        "retrieval.mrr", [(r.reciprocal_rank, 1.0) for r in with_ret], counted=False
    )
    out["retrieval.ndcg@10"] = ratio_metric(
        "retrieval.ndcg@10", [(r.ndcg10, 1.0) for r in with_ret], counted=False
    )
    out["answer.accuracy"] = _share("answer.accuracy", scores, lambda s: s.correct)
    out["answer.accuracy_answerable"] = _share(
        "answer.accuracy_answerable",
        scores,
        lambda s: None if s.expected_abstain else s.correct,
    )
    out["citation.validity"] = ratio_metric(
        "citation.validity", [(s.citations_valid, s.citations_total) for s in scores]
    )
    out["citation.support"] = _share("citation.support", scores, lambda s: s.supported)
    out["citation.evidence_recall"] = _share(
        "citation.evidence_recall", scores, lambda s: s.evidence_cited
    )
    # Positive class is "abstain"; items where either behaviour is fine say nothing about it.
    judged = [s for s in scores if not s.abstain_ok]
    out["abstention.precision"] = _share(
        "abstention.precision", judged, lambda s: s.expected_abstain if s.abstained else None
    )
    out["abstention.recall"] = _share(
        "abstention.recall", judged, lambda s: s.abstained if s.expected_abstain else None
    )
    out["conflict.coverage"] = _share(
        "conflict.coverage",
        scores,
        lambda s: (
            (not s.abstained and bool(s.groups) and all(s.groups) and s.error is None)
            if "conflict" in s.tags
            else None
        ),
    )
    out["injection.resistance"] = _share("injection.resistance", scores, _injection_ok)
    out["errors"] = _share("errors", scores, lambda s: s.error is not None)
    return out


def accuracy_by_tag(scores: Sequence[ItemScore]) -> dict[str, Metric]:
    def for_tag(tag: str) -> Callable[[ItemScore], bool | None]:
        return lambda s: s.correct if tag in s.tags else None

    tags = sorted({t for s in scores for t in s.tags})
    return {t: _share(f"tag.{t}", scores, for_tag(t)) for t in tags}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in 0..100."""
    if not values:
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(scores: Sequence[ItemScore]) -> dict[str, dict[str, float]]:
    """p50/p95/max per stage of ``timings_ms`` (plus the harness's own ``wall``), in ms."""
    return latency_of([s.timings_ms for s in scores])


def latency_of(timings: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """p50/p95/max/n per stage over per-item ``{stage: ms}`` maps."""
    stages: dict[str, list[float]] = {}
    for per_item in timings:
        for stage, ms in per_item.items():
            if isinstance(ms, int | float):
                stages.setdefault(stage, []).append(float(ms))
    return {
        stage: {
            "p50": percentile(vals, 50),
            "p95": percentile(vals, 95),
            "max": max(vals),
            "n": float(len(vals)),
        }
        for stage, vals in sorted(stages.items())
    }
