"""Fitting the answerer: listwise rankers, confidence model, isotonic calibration, threshold.

Every number in the artifact comes from here. The confidence model must see the rankers' outputs
on questions they were not fitted on, so within the training articles it is fitted on
leave-one-article-out outputs, and its isotonic calibration on its own leave-one-article-out
scores; the threshold is then chosen on those calibrated out-of-fold confidences so that
out-of-fold false refusals stay within ``Params.max_false_refusal``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from eval.fit.dataset import Item, covers_gold, is_correct
from eval.squad.data import normalize_answer
from service.answering.generators.extractive.answer import (
    SPAN_MODEL_FEATURES,
    Analysis,
    Prepared,
    choose,
    prepare,
    rank,
    render,
)
from service.answering.generators.extractive.confidence import CONF_FEATURES
from service.answering.generators.extractive.model import Calibration, FittedModel, Linear
from service.answering.generators.extractive.sentences import SENTENCE_FEATURES
from service.answering.generators.extractive.spans import SpanSet
from service.answering.generators.extractive.types import SentenceVectors

Groups = Sequence[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Params:
    """Fitting choices (not fitted): regularisation, sentences offering spans, abstention target."""

    l2_sentence: float = 1.0
    l2_span: float = 1.0
    c_confidence: float = 0.3
    top_sentences: int = 4
    second_quote_ratio: float = 0.5
    # The threshold is the highest whose out-of-fold false refusals stay within this share.
    max_false_refusal: float = 0.05
    span_negatives: int = 60  # negatives sampled per question for the span ranker
    span_slack: int = 2  # a positive span has at most this many words more than the gold answer
    seed: int = 0  # the negative sampling's
    centred_calibration: bool = True  # see fit_isotonic


def fit_listwise(groups: Groups, names: tuple[str, ...], l2: float) -> Linear:
    """Linear scores fitted so that, per question, the softmax mass falls on the positive rows
    (L-BFGS on standardised features; the weights are returned in raw feature units)."""
    kept = [(x, y) for x, y in groups if y.any() and len(y) > 1]
    if not kept:
        return Linear(names, np.zeros(len(names)))
    x_all = np.vstack([g[0] for g in kept]).astype(np.float64)
    mu, sd = x_all.mean(0), x_all.std(0) + 1e-6
    x = (x_all - mu) / sd
    y = np.concatenate([g[1] for g in kept]).astype(np.float64)
    bounds = np.cumsum([0] + [len(g[1]) for g in kept])
    idx = np.repeat(np.arange(len(kept)), np.diff(bounds))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = x @ w
        m = np.maximum.reduceat(s, bounds[:-1])
        e = np.exp(s - m[idx])
        tot = np.add.reduceat(e, bounds[:-1])
        pos = np.add.reduceat(e * y, bounds[:-1])
        value = -(np.log(pos) - np.log(tot)).sum() + l2 * (w @ w)
        grad = x.T @ (e / tot[idx] - e * y / pos[idx]) + 2 * l2 * w
        return float(value), np.asarray(grad)

    w = np.asarray(minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x)
    return Linear(names, w / sd, float(-(mu / sd) @ w))


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float) -> Linear:
    """L2 logistic regression on standardised features, returned in raw feature units."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    if len(set(y.tolist())) < 2:  # one class only (tiny data): a constant score
        return Linear(names, np.zeros(len(names)), 3.0 if y.size and y[0] else -3.0)
    lr = LogisticRegression(C=c, max_iter=5000).fit((x - mu) / sd, y)
    coef = np.asarray(lr.coef_[0])
    return Linear(names, coef / sd, float(lr.intercept_[0] - (mu / sd) @ coef))


def fit_isotonic(raw: np.ndarray, y: np.ndarray, centred: bool = True) -> Calibration:
    """Monotone map from raw confidence scores to the observed share correct.

    Plain isotonic regression is a staircase: every question on a step gets the same confidence,
    so a threshold can only refuse whole steps (on SQuAD dev ~90 questions each). ``centred``
    (centred isotonic regression, Oron & Flournoy 2017) puts one knot at the mean raw score of
    each step and interpolates between them: strictly increasing, as well calibrated, and a
    threshold can fall inside a step.
    """
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    if not centred:
        return Calibration(np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_))
    order = np.argsort(raw, kind="stable")
    xs, fitted = np.asarray(raw, dtype=np.float64)[order], np.asarray(iso.predict(raw[order]))
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    knots_x = np.add.reduceat(xs, starts) / np.diff(np.r_[starts, len(xs)])
    knots_y = fitted[starts]
    # The ends keep their step's value out to the extreme scores seen.
    knots_x = np.r_[xs[0], knots_x, xs[-1]]
    knots_y = np.r_[knots_y[0], knots_y, knots_y[-1]]
    keep = np.r_[True, np.diff(knots_x) > 0]
    return Calibration(knots_x[keep], knots_y[keep])


def choose_threshold(confidences: Sequence[float], max_false_refusal: float) -> float:
    """The highest threshold refusing at most ``max_false_refusal`` of the answerable questions
    whose (out-of-fold) confidences are given."""
    ordered = sorted(confidences)
    if not ordered:
        return 0.5
    k = int(max_false_refusal * len(ordered))
    # Refusing below the (k+1)-th lowest confidence refuses at most k answerable questions.
    return float(ordered[min(k, len(ordered) - 1)])


@dataclass
class Outcome:
    """One question the rankers answered: confidence features, correctness, and (once the
    confidence model is fitted) raw and calibrated out-of-fold confidence."""

    item: Item
    conf_x: np.ndarray
    correct: bool
    words: int
    raw: float = 0.0
    confidence: float = 0.0


@dataclass
class Trainer:
    """Caches the model-independent work per item so that each fold only fits and scores."""

    vectors: SentenceVectors
    params: Params = field(default_factory=Params)
    _prep: dict[str, Prepared] = field(default_factory=dict)
    _spans: dict[tuple[str, int], SpanSet] = field(default_factory=dict)

    def prepared(self, item: Item) -> Prepared:
        if item.id not in self._prep:
            self._prep[item.id] = prepare(item.question, item.passages, self.vectors, item.qvec)
        return self._prep[item.id]

    def spans(self, item: Item) -> Callable[[int], SpanSet]:
        prep = self.prepared(item)

        def get(i: int) -> SpanSet:
            key = (item.id, i)
            if key not in self._spans:
                self._spans[key] = prep.spans_of(i)
            return self._spans[key]

        return get

    def sentence_labels(self, item: Item) -> np.ndarray:
        sents = self.prepared(item).sents
        return np.asarray([covers_gold(item, *s.doc_span) for s in sents], dtype=bool)

    def analysis(self, item: Item, sentence: Linear) -> Analysis:
        return rank(self.prepared(item), sentence, self.params.top_sentences, self.spans(item))

    def span_labels(self, item: Item, an: Analysis) -> np.ndarray:
        """A span is right when it contains a gold answer, is at most ``span_slack`` words longer
        (containment alone would teach that longer is better), and its sentence covers a gold
        span. Seeds items (alias groups, no answer texts) have no span labels."""
        golds = [g for g in (normalize_answer(a) for a in item.answers) if g]
        slack = self.params.span_slack
        labels: list[np.ndarray] = []
        for i, ss in an.span_sets:
            sent = an.sents[i]
            if not golds or not covers_gold(item, *sent.doc_span):
                labels.append(np.zeros(len(ss.start), dtype=bool))
                continue
            hay = [
                f" {normalize_answer(sent.text[s:e])} "
                for s, e in zip(ss.start, ss.end, strict=True)
            ]
            labels.append(
                np.asarray(
                    [
                        any(
                            f" {g} " in h and len(h.split()) <= len(g.split()) + slack
                            for g in golds
                        )
                        for h in hay
                    ],
                    dtype=bool,
                )
            )
        return np.concatenate(labels) if labels else np.zeros(0, dtype=bool)

    def fit_rankers(self, items: Sequence[Item]) -> tuple[Linear, Linear]:
        answerable = [it for it in items if it.answerable]
        groups = [(self.prepared(it).sent_x, self.sentence_labels(it)) for it in answerable]
        sentence = fit_listwise(groups, SENTENCE_FEATURES, self.params.l2_sentence)
        span_groups = []
        rng = np.random.default_rng(self.params.seed)
        for it in answerable:
            an = self.analysis(it, sentence)
            labels = self.span_labels(it, an)
            # All positives and a sample of negatives: the listwise fit costs per row.
            neg = rng.permutation(np.flatnonzero(~labels))[: self.params.span_negatives]
            keep = np.sort(np.concatenate([np.flatnonzero(labels), neg]))
            span_groups.append((an.span_x[keep], labels[keep]))
        span = fit_listwise(span_groups, SPAN_MODEL_FEATURES, self.params.l2_span)
        return sentence, span

    def outcomes(self, items: Sequence[Item], sentence: Linear, span: Linear) -> list[Outcome]:
        """What the rankers answer, abstention off (no evidence at all: no outcome)."""
        out = []
        for it in items:
            an = self.analysis(it, sentence)
            choice = choose(an, span, self.params.second_quote_ratio)
            if choice is None:
                continue
            ext = render(an, choice, 1.0)
            out.append(
                Outcome(it, choice.conf_x, is_correct(it, ext), len(ext.answer_text.split()))
            )
        return out

    def oof_outcomes(
        self, items: Sequence[Item], on_fold: Callable[[str], None] | None = None
    ) -> list[Outcome]:
        """Outcomes of each article's items under rankers fitted on the other articles."""
        out: list[Outcome] = []
        for art in sorted({it.article for it in items}):
            sentence, span = self.fit_rankers([it for it in items if it.article != art])
            out += self.outcomes([it for it in items if it.article == art], sentence, span)
            if on_fold is not None:
                on_fold(art)
        return out

    def fit(
        self,
        items: Sequence[Item],
        meta: dict[str, Any] | None = None,
        on_fold: Callable[[str], None] | None = None,
    ) -> tuple[FittedModel, list[Outcome]]:
        """The artifact fitted on ``items`` (two or more articles), and the out-of-fold outcomes
        its confidence model, calibration and threshold were fitted on."""
        p = self.params
        oof = self.oof_outcomes(items, on_fold)
        x = np.vstack([o.conf_x for o in oof])
        y = np.asarray([o.correct for o in oof], dtype=np.int64)
        arts = np.asarray([o.item.article for o in oof])
        raw = np.zeros(len(oof))
        for art in sorted(set(arts.tolist())):
            held = arts == art
            conf = fit_logistic(x[~held], y[~held], CONF_FEATURES, p.c_confidence)
            raw[held] = conf.score(x[held])
        calibration = fit_isotonic(raw, y, p.centred_calibration)
        for o, r in zip(oof, raw, strict=True):
            o.raw, o.confidence = float(r), calibration(float(r))
        threshold = choose_threshold(
            [o.confidence for o in oof if o.item.answerable], p.max_false_refusal
        )
        sentence, span = self.fit_rankers(items)
        model = FittedModel(
            sentence=sentence,
            span=span,
            confidence=fit_logistic(x, y, CONF_FEATURES, p.c_confidence),
            calibration=calibration,
            threshold=threshold,
            top_sentences=p.top_sentences,
            second_quote_ratio=p.second_quote_ratio,
            meta=dict(meta or {}),
        )
        if on_fold is not None:
            on_fold("all")
        return model, oof


def with_threshold(model: FittedModel, threshold: float) -> FittedModel:
    """The same model with another abstention threshold (-1: never abstain on confidence)."""
    return replace(model, threshold=threshold)
