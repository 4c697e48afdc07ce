"""The SQuAD dev README's scoring rule on hand-made outputs: containment after SQuAD
normalisation, a citation covering a gold span, abstention; and the aggregates built on it."""

from __future__ import annotations

from typing import Any

import pytest

from eval.squad.data import SquadItem, contains_answer, covers, normalize_answer
from eval.squad.metrics import (
    aggregate_squad,
    by_qtype,
    median_answer_words,
    misplaced_citations,
    reliability,
    reliability_bins,
    score_output,
)

DOC = "Intro.\n\nThe Normans were in Normandy, a region in France. They came in the 10th century.\n"
FRANCE = DOC.index("France")
SENT = (DOC.index("The Normans"), DOC.index("France") + len("France."))
ITEM = SquadItem(
    "q1",
    "In what country is Normandy located?",
    "normans",
    True,
    ("France",),
    ((FRANCE, FRANCE + 6),),
)
UNANSWERABLE = SquadItem("q2", "Who gave their name to Normandy in the 1000s?", "normans", False)
DOCS = {"normans": DOC}


def _cite(
    start: int, end: int, doc_id: str = "normans", quote: str | None = None
) -> dict[str, Any]:
    text = DOCS.get(doc_id, "")
    return {"doc_id": doc_id, "start": start, "end": end, "quote": quote or text[start:end]}


def _out(answer: str, *citations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"answer": answer, "abstained": False, "citations": list(citations), **extra}


ABSTAINED = {
    "answer": "The indexed documents do not answer this question.",
    "abstained": True,
    "citations": [],
    "abstain_code": "low_confidence",
    "confidence": 0.1,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Eiffel-Tower!", "eiffeltower"),
        ("A cat, an owl and THE dog.", "cat owl and dog"),
        ("“Curly” quotes stay", "“curly” quotes stay"),  # ASCII punctuation only, as SQuAD's
        ("there", "there"),  # articles are whole words
    ],
)
def test_normalisation_is_squads(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_containment_is_after_normalisation() -> None:
    assert contains_answer("It lies in northern FRANCE, [1].", ["France"])
    assert contains_answer("the Duchy of Normandy", ["The duchy"])
    assert contains_answer("prices rose 400%", ["400"])  # string containment, as the README says
    assert not contains_answer("It lies in Spain.", ["France", "French Republic"])
    assert not contains_answer("anything", [""])  # an empty gold answer never matches


def test_covering_means_the_citation_contains_the_whole_span() -> None:
    assert covers(10, 20, [(10, 20)])
    assert covers(0, 100, [(50, 60), (200, 210)])
    assert not covers(11, 20, [(10, 20)])
    assert not covers(10, 19, [(10, 20)])


def test_a_contained_answer_with_a_covering_citation_is_correct() -> None:
    s = score_output(ITEM, _out("France [1]. The Normans ... France.", _cite(*SENT)), DOCS)
    assert s.correct
    assert s.handled
    assert s.contains
    assert s.cited
    assert (s.citations_valid, s.citations_total) == (1, 1)
    assert s.qtype == "what"


def test_the_answer_needs_both_the_text_and_the_covering_citation() -> None:
    elsewhere = _cite(DOC.index("They came"), len(DOC) - 1)
    assert not score_output(ITEM, _out("France [1].", elsewhere), DOCS).correct
    other_doc = {"doc_id": "other", "start": SENT[0], "end": SENT[1], "quote": "x"}
    assert not score_output(ITEM, _out("France [1].", other_doc), DOCS).correct
    no_text = score_output(ITEM, _out("Normandy [1].", _cite(*SENT)), DOCS)
    assert no_text.cited
    assert not no_text.contains
    assert not no_text.correct


def test_citation_markers_are_not_answer_text() -> None:
    item = SquadItem("q3", "How many?", "normans", True, ("1",), ((FRANCE, FRANCE + 6),))
    assert not score_output(item, _out("Several [1].", _cite(*SENT)), DOCS).contains


def test_abstentions_refuse_unanswerables_and_are_false_refusals_otherwise() -> None:
    refused = score_output(UNANSWERABLE, ABSTAINED, DOCS)
    assert refused.handled
    assert refused.abstain_code == "low_confidence"
    answered = score_output(UNANSWERABLE, _out("Rollo [1].", _cite(*SENT)), DOCS)
    assert not answered.handled
    assert not answered.correct
    false_refusal = score_output(ITEM, ABSTAINED, DOCS)
    assert false_refusal.abstained
    assert not false_refusal.handled
    assert not false_refusal.correct


def test_an_error_is_never_correct_nor_a_refusal() -> None:
    s = score_output(UNANSWERABLE, {"answer": "", "abstained": True}, DOCS, error="TargetError")
    assert not s.abstained
    assert not s.handled


def test_a_citation_not_at_its_offsets_is_counted_as_misplaced() -> None:
    moved = _cite(SENT[0] + 1, SENT[1] + 1, quote=DOC[SENT[0] : SENT[1]])
    s = score_output(ITEM, _out("France [1][2].", _cite(*SENT), moved), DOCS)
    assert (s.citations_valid, s.citations_total) == (1, 2)
    assert misplaced_citations([s]) == 1


def test_aggregates_count_over_the_right_questions() -> None:
    scores = [
        score_output(ITEM, _out("France [1].", _cite(*SENT), confidence=0.9), DOCS),
        score_output(ITEM, ABSTAINED, DOCS),
        score_output(UNANSWERABLE, ABSTAINED, DOCS),
        score_output(UNANSWERABLE, _out("Rollo [1].", _cite(*SENT), confidence=0.4), DOCS),
    ]
    m = aggregate_squad(scores)
    assert (m["squad.correct_cited"].num, m["squad.correct_cited"].den) == (1, 2)
    assert m["squad.false_refusal"].value == 0.5
    assert m["squad.answerable_answered"].value == 0.5
    assert m["squad.unanswerable_refused"].value == 0.5
    assert m["squad.handled"].value == 0.5
    assert m["squad.answer_precision"].value == 0.5
    assert m["citation.validity"].value == 1.0
    assert m["errors"].value == 0.0
    assert median_answer_words(scores) == 2.0
    (row,) = [r for r in by_qtype(scores) if r.qtype == "what"]
    assert (row.answerable, row.correct_cited, row.false_refusal) == (2, 0.5, 0.5)
    rel = reliability(scores)
    assert rel is not None
    bins, ece = rel
    assert [(b.n, b.accuracy) for b in bins] == [(1, 0.0), (1, 1.0)]
    assert ece == pytest.approx((0.4 + 0.1) / 2)


def test_no_confidence_in_the_outputs_means_no_reliability() -> None:
    assert reliability([score_output(ITEM, _out("France [1].", _cite(*SENT)), DOCS)]) is None


def test_reliability_bins_include_one_in_the_last_bin() -> None:
    bins, ece = reliability_bins([(1.0, True), (0.95, True), (0.05, False)])
    assert [(b.low, b.n) for b in bins] == [(0.0, 1), (0.9, 2)]
    assert ece == pytest.approx((0.05 + 0.025 * 2) / 3)
