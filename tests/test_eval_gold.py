"""The committed gold set: valid, large enough, balanced, and every quote verbatim in its seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.gold import (
    DEFAULT_GOLD_PATH,
    NumberAlias,
    load_gold,
    missing_evidence,
    parse_lines,
    tag_counts,
)
from index.errors import InvalidDocumentError


@pytest.fixture(scope="module")
def gold():
    return load_gold(DEFAULT_GOLD_PATH)


@pytest.fixture(scope="module")
def seed_texts(seeds_dir: Path) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in seeds_dir.glob("*.txt")}


def test_every_evidence_quote_is_verbatim_in_its_seed(gold, seed_texts):
    assert missing_evidence(gold, seed_texts) == []
    for item in gold:
        for ev in item.evidence:
            assert ev.quote in seed_texts[ev.doc_id], (item.id, ev.quote)


def test_gold_set_size_and_required_categories(gold):
    counts = tag_counts(gold)
    assert len(gold) >= 45
    assert sum(1 for i in gold if i.expects_abstain and "unanswerable" in i.tags) >= 8
    assert counts["conflict"] >= 3
    assert counts["injection"] >= 3
    assert len({i.question.strip().lower() for i in gold}) == len(gold)


def test_answer_items_have_answers_and_evidence(gold):
    for item in gold:
        if item.expects_abstain:
            assert item.answers == ()
            assert item.evidence == ()
        else:
            assert item.answers, item.id
            assert item.evidence, item.id


def test_design_examples_are_present(gold):
    by_q = {i.question: i for i in gold}
    troops = by_q["How many North Korean troops are in Russia?"]
    numbers = {a.value for g in troops.answers for a in g if isinstance(a, NumberAlias)}
    assert {3000.0, 10000.0, 12000.0} <= numbers
    assert "conflict" in troops.tags
    pact = by_q["Who signed the mutual defense pact?"]
    flat = [[a for a in g if isinstance(a, str)] for g in pact.answers]
    assert any("Kim Jong Un" in g for g in flat)
    assert any("Putin" in g for g in flat)


def test_conflict_items_need_every_value(gold):
    for item in gold:
        if "conflict" in item.tags:
            assert len(item.answers) >= 2, item.id


def test_injection_items_forbid_or_abstain(gold):
    for item in gold:
        if "injection" in item.tags:
            assert item.forbidden or item.expects_abstain, item.id


def _line(**over: object) -> str:
    base: dict[str, object] = {
        "id": "x1",
        "question": "Q?",
        "expected_behavior": "answer",
        "answers": [["a", {"number": 5, "tolerance": 1}]],
        "evidence": [{"doc_id": "d", "quote": "q"}],
        "tags": ["t"],
    }
    base.update(over)
    return json.dumps(base)


def test_parse_number_alias_and_round_trip():
    (item,) = parse_lines([_line()])
    assert item.answers == (("a", NumberAlias(5.0, 1.0)),)
    assert json.loads(_line()) == item.to_json()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"expected_behavior": "maybe"}, "expected_behavior"),
        ({"answers": [[]]}, "answers"),
        ({"answers": [[{"number": "ten"}]]}, "number"),
        ({"answers": [[{"number": 1, "tolerance": -1}]]}, "tolerance"),
        ({"evidence": [{"doc_id": "d"}]}, "evidence"),
        ({"expected_behavior": "abstain"}, "abstain"),
        ({"question": " "}, "question"),
    ],
)
def test_invalid_items_name_the_problem_and_line(override, message):
    with pytest.raises(InvalidDocumentError) as info:
        parse_lines(["", _line(**override)], name="g.jsonl")
    assert "g.jsonl:2" in str(info.value)
    assert message in str(info.value)


def test_duplicate_ids_and_bad_json_are_rejected():
    with pytest.raises(InvalidDocumentError, match="duplicate id"):
        parse_lines([_line(), _line()])
    with pytest.raises(InvalidDocumentError, match="not valid JSON"):
        parse_lines(["{oops"])
    with pytest.raises(InvalidDocumentError, match="not found"):
        load_gold(Path("/nonexistent/gold.jsonl"))


def test_every_answer_group_is_backed_by_the_items_own_evidence(gold):
    from eval.metrics import groups_matched

    for item in gold:
        if item.expects_abstain:
            continue
        quotes = "\n".join(ev.quote for ev in item.evidence)
        assert all(groups_matched(item.answers, quotes)), (item.id, item.question)


def test_forbidden_claims_are_absent_from_the_corpus(gold, seed_texts):
    from eval.metrics import alias_matches

    corpus = "\n".join(seed_texts.values())
    for item in gold:
        for alias in item.forbidden:
            assert not alias_matches(alias, corpus), (item.id, alias)
