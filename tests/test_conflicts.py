"""Conflicting figures: extracted per citation, with attribution, and reported side by side."""

from __future__ import annotations

from service.answering.conflicts import attribution, find_conflicts, quantities
from service.answering.question import analyse_question
from service.answering.types import Citation

Q000 = (
    "While Pyongyang denies sending combat troops to Russia, reports from both U.S. and South "
    "Korean sources indicate that at least 3,000 North Korean soldiers have been stationed in "
    "Russia, with numbers potentially reaching 12,000."
)
Q004 = (
    "Reports from South Korean intelligence suggest that over 10,000 North Korean troops have "
    "been deployed to Russia."
)
Q003 = (
    "According to reports from South Korean officials and Ukrainian intelligence, thousands of "
    "North Korean soldiers may be participating in the war, with some already experiencing "
    "casualties."
)


def _cit(i: int, doc: str, quote: str) -> Citation:
    return Citation(
        id=i, doc_id=doc, chunk_id=f"c{i}", title=doc, quote=quote, start=0, end=len(quote)
    )


def test_quantities_skip_years_and_dates() -> None:
    assert [q.phrase for q in quantities(Q000)] == ["at least 3,000", "potentially reaching 12,000"]
    assert quantities("The June 2024 agreement; 16 px; in 2023") == []
    assert [q.key for q in quantities("poured billions into defense")] == ["billions"]


def test_attribution_phrases() -> None:
    assert attribution(Q000) == "U.S. and South Korean sources"
    assert attribution(Q004) == "South Korean intelligence"
    assert attribution(Q003) == "South Korean officials and Ukrainian intelligence"
    assert attribution("Nothing attributed here.") == ""


def test_three_sources_three_values() -> None:
    analysis = analyse_question("How many North Korean troops are in Russia?")
    conflicts = find_conflicts(
        analysis, [_cit(1, "000", Q000), _cit(2, "004", Q004), _cit(3, "003", Q003)]
    )
    assert len(conflicts) == 1
    values = conflicts[0].values
    assert [(v.value, v.citation, v.doc_id) for v in values] == [
        ("at least 3,000, potentially reaching 12,000", 1, "000"),
        ("over 10,000", 2, "004"),
        ("thousands", 3, "003"),
    ]
    assert values[1].attribution == "South Korean intelligence"
    assert "troops" in conflicts[0].topic


def test_a_range_in_one_source_or_agreeing_sources_is_no_conflict() -> None:
    analysis = analyse_question("How many North Korean soldiers are in Russia?")
    assert find_conflicts(analysis, [_cit(1, "000", Q000)]) == ()
    same = "Officials say over 10,000 North Korean troops are there."
    assert find_conflicts(analysis, [_cit(1, "004", Q004), _cit(2, "005", same)]) == ()


def test_only_quantity_questions() -> None:
    who = analyse_question("Who reported the troop numbers?")
    assert find_conflicts(who, [_cit(1, "000", Q000), _cit(2, "004", Q004)]) == ()
    dated = "The pact was signed in June 2024, on 19 June."
    when = analyse_question("How many troops were sent?")
    assert find_conflicts(when, [_cit(1, "000", dated), _cit(2, "004", Q004)]) == ()
