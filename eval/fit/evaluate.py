"""Leave-one-article-out figures: each article answered by a model fitted without it.

For every article, :meth:`Trainer.fit` runs on the others (itself leave-one-article-out inside, for
the confidence model, the calibration and the threshold), then the held-out questions go through
the product's ``answer`` (abstention included) and are scored by the README rule
(:func:`eval.fit.dataset.is_correct`). Each question is also answered with abstention switched
off, for the calibration of all confidences.

Figures (:func:`summary`): ``correct_cited`` (answerable questions answered correctly with a
covering quote), ``false_refusal``, ``unanswerable_refused``, ``median_words`` (of the answers
given to answerable questions), ``ece`` (answered questions: confidence vs correct, ten bins, as
``citeqa eval`` reports it) and ``ece_all`` (every question with abstention off).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from eval.fit.dataset import Item, VectorLookup, is_correct
from eval.fit.training import Trainer, with_threshold
from eval.squad.metrics import reliability_bins
from service.answering.generators.extractive.answer import answer
from service.answering.generators.extractive.model import FittedModel
from service.answering.generators.extractive.types import Extracted, SentenceVectors


@dataclass(frozen=True)
class Row:
    """One held-out question: the answer, whether it is correct, and with abstention off."""

    item: Item
    out: Extracted
    correct: bool
    forced_correct: bool
    forced_confidence: float
    seconds: float
    threshold: float


def answer_items(items: Sequence[Item], model: FittedModel, vectors: SentenceVectors) -> list[Row]:
    """Every item through the product's ``answer`` (and once more with abstention off)."""
    forced_model = with_threshold(model, -1.0)
    rows = []
    for it in items:
        t0 = time.perf_counter()
        out = answer(it.question, it.passages, vectors, it.qvec, model)
        dt = time.perf_counter() - t0
        forced = answer(it.question, it.passages, vectors, it.qvec, forced_model)
        rows.append(
            Row(
                it,
                out,
                is_correct(it, out),
                is_correct(it, forced),
                forced.confidence,
                dt,
                model.threshold,
            )
        )
    return rows


def loao(
    trainer: Trainer,
    items: Sequence[Item],
    vectors: VectorLookup,
    on_fold: Callable[[str, int, int], None] | None = None,
) -> list[Row]:
    """Held-out rows of every article (needs three articles or more: the fit is nested)."""
    articles = sorted({it.article for it in items})
    if len(articles) < 3:
        raise ValueError(f"leave-one-article-out needs >= 3 articles, got {len(articles)}")
    rows: list[Row] = []
    for i, art in enumerate(articles):
        model, _ = trainer.fit([it for it in items if it.article != art])
        rows += answer_items([it for it in items if it.article == art], model, vectors)
        if on_fold is not None:
            on_fold(art, i + 1, len(articles))
    return rows


def _rate(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def summary(rows: Sequence[Row]) -> dict[str, float | int | None]:
    """The headline figures of held-out rows (see the module docstring)."""
    ans = [r for r in rows if r.item.answerable]
    una = [r for r in rows if not r.item.answerable]
    words = [len(r.out.answer_text.split()) for r in ans if not r.out.abstained]
    answered = [(r.out.confidence, r.correct) for r in rows if not r.out.abstained]
    forced = [(r.forced_confidence, r.forced_correct) for r in rows]
    seconds = [r.seconds for r in rows]
    return {
        "n_answerable": len(ans),
        "n_unanswerable": len(una),
        "correct_cited": _rate([r.correct for r in ans]),
        "false_refusal": _rate([r.out.abstained for r in ans]),
        "unanswerable_refused": _rate([r.out.abstained for r in una]),
        "median_words": float(statistics.median(words)) if words else None,
        "ece": reliability_bins(answered)[1] if answered else None,
        "ece_all": reliability_bins(forced)[1] if forced else None,
        "ms_mean": 1000 * float(np.mean(seconds)) if seconds else None,
        "ms_p95": 1000 * float(np.percentile(seconds, 95)) if seconds else None,
    }


def per_article(rows: Sequence[Row]) -> dict[str, dict[str, float | int | None]]:
    """:func:`summary` of each held-out article, with the threshold its fold chose."""
    out: dict[str, dict[str, float | int | None]] = {}
    for art in sorted({r.item.article for r in rows}):
        held = [r for r in rows if r.item.article == art]
        out[art] = {"threshold": held[0].threshold, **summary(held)}
    return out
