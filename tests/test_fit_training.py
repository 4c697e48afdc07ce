"""The fitting pieces on small hand-made data: listwise ranker, threshold rule, calibration,
passage limits, the scoring rule on answerer outputs, and the sentence-vector lookup."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from eval.fit.dataset import Item, VectorLookup, contains_gold, is_correct, limit_passages
from eval.fit.training import choose_threshold, fit_isotonic, fit_listwise, fit_logistic
from eval.gold import NumberAlias
from service.answering.generators.extractive.types import Extracted, Passage


def test_listwise_fit_puts_the_mass_on_the_positive_rows() -> None:
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(40):
        x = rng.normal(size=(6, 3))
        y = np.zeros(6, dtype=bool)
        best = int(np.argmax(x[:, 1]))  # feature 1 decides
        y[best] = True
        groups.append((x, y))
    model = fit_listwise(groups, ("a", "b", "c"), l2=0.1)
    assert np.argmax(np.abs(model.weights)) == 1
    assert model.weights[1] > 0
    hits = sum(int(np.argmax(model.score(x))) == int(np.argmax(y)) for x, y in groups)
    assert hits >= 38


def test_listwise_fit_without_positives_is_all_zeros() -> None:
    model = fit_listwise([(np.ones((3, 2)), np.zeros(3, dtype=bool))], ("a", "b"), l2=1.0)
    assert not model.weights.any()


def test_logistic_fit_of_one_class_is_a_constant() -> None:
    model = fit_logistic(np.ones((4, 2)), np.ones(4, dtype=np.int64), ("a", "b"), c=1.0)
    assert model.score(np.zeros((1, 2)))[0] > 0


@pytest.mark.parametrize("share", [0.0, 0.05, 0.2, 0.5])
def test_the_threshold_refuses_at_most_the_allowed_share(share: float) -> None:
    confidences = [i / 100 for i in range(100)]
    t = choose_threshold(confidences, share)
    refused = sum(c < t for c in confidences)
    assert refused <= share * len(confidences)
    assert refused == int(share * 100)  # and it is the highest such threshold


def test_ties_keep_the_threshold_at_or_below_the_target() -> None:
    confidences = [0.1] * 10 + [0.3] * 90
    t = choose_threshold(confidences, 0.05)
    assert sum(c < t for c in confidences) <= 5


def test_centred_calibration_is_strictly_increasing_and_stays_calibrated() -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(size=2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-2 * raw))).astype(np.int64)
    steps = fit_isotonic(raw, y, centred=False)
    centred = fit_isotonic(raw, y, centred=True)
    grid = np.linspace(raw.min(), raw.max(), 200)
    values = np.array([centred(float(v)) for v in grid])
    assert np.all(np.diff(centred.x) > 0)
    assert np.all(np.diff(values) >= 0)
    assert len(set(np.round(values, 9))) > len(set(np.round(steps.y, 9)))
    assert values.min() >= 0.0
    assert values.max() <= 1.0
    conf = np.array([centred(float(v)) for v in raw])
    assert abs(conf.mean() - y.mean()) < 0.02


def _passage(n: int, text: str, start: int = 100, doc_id: str = "d") -> Passage:
    return Passage(n, doc_id, f"c{n}", "T", text, start, 1.0 / n, n)


def _item(question: str, **kw: Any) -> Item:
    base = Item(
        id="i",
        question=question,
        article="a",
        answerable=True,
        answers=("Brenna",),
        groups=(),
        spans=(("d", 110, 116),),
        passages=tuple(_passage(n, "x" * 40) for n in range(1, 11)),
        qvec=np.zeros(4, dtype=np.float32),
    )
    return replace(base, **kw)


def test_served_passages_are_top_k_or_ten_for_quantity_questions() -> None:
    who, many = _item("Who founded Brenna?"), _item("How many towers does Brenna have?")
    assert [len(it.passages) for it in limit_passages([who, many], None, 5)] == [5, 10]
    assert [len(it.passages) for it in limit_passages([who, many], 3, 5)] == [3, 3]


def test_is_correct_needs_the_answer_and_a_quote_covering_the_gold_span() -> None:
    text = "It was Ann. Brenna was founded by Ann. Later."
    ann = 100 + text.index("by Ann") + 3
    item = _item(
        "Who?", answers=("Ann",), spans=(("d", ann, ann + 3),), passages=(_passage(1, text),)
    )
    sentence = (text.index("Brenna"), text.index("Later") - 1)
    good = Extracted("Ann.", [(1, *sentence)], 0.9, None, "Ann. Brenna was founded by Ann.")
    assert is_correct(item, good)
    first = Extracted("Ann.", [(1, 0, 11)], 0.9, None, "Ann. It was Ann.")
    assert not is_correct(item, first)  # names Ann, but quotes another occurrence
    refused = Extracted(None, [], 0.1, "low_confidence", "")
    assert not is_correct(item, refused)


def test_seeds_items_need_every_alias_group() -> None:
    item = _item("How many?", answers=(), groups=(("troops",), (NumberAlias(10000.0, 0.0),)))
    assert contains_gold(item, "over 10,000 troops")
    assert not contains_gold(item, "over 10,000 soldiers")


def test_the_vector_lookup_merges_and_counts_misses() -> None:
    a = VectorLookup(["one", "two"], np.eye(2, dtype=np.float32))
    b = VectorLookup(["two", "three"], np.full((2, 2), 0.5, dtype=np.float32))
    both = a.merged(b)
    out = both(["three", "two", "four"])
    assert out[0].tolist() == [0.5, 0.5]
    assert out[1].tolist() == [0.0, 1.0]  # the first table's vector wins
    assert out[2].tolist() == [0.0, 0.0]
    assert both.misses == 1
