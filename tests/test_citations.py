"""Parsing the generator's reply and locating quotes at exact offsets of the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.text.sentences import split_sentences
from service.answering.citations import locate_quote
from service.answering.evidence import Quote, replace_markers
from service.answering.generators.llm_format import UnparseableOutputError, parse_output
from tests.fakes import seed_documents

DOC = (
    "While Pyongyang denies sending combat troops to Russia, reports from both U.S. and South "
    "Korean sources indicate that at least 3,000 North Korean soldiers have been stationed in "
    "Russia, with numbers potentially reaching 12,000. Ukraine’s military   intelligence\n"
    "services confirmed sightings — in Kursk."
)


def test_locate_exact_quote() -> None:
    quote = "at least 3,000 North Korean soldiers"
    start, end = locate_quote(quote, DOC) or (0, 0)
    assert DOC[start:end] == quote


@pytest.mark.parametrize(
    ("variant", "original"),
    [
        ("Ukraine's military intelligence services", "Ukraine’s military   intelligence\nservices"),
        ("sightings - in Kursk", "sightings — in Kursk"),
        ("AT LEAST 3,000 north korean SOLDIERS", "at least 3,000 North Korean soldiers"),
        ("“at least 3,000 North Korean soldiers.”", "at least 3,000 North Korean soldiers"),
        (
            "denies sending ... at least 3,000 North Korean soldiers",
            "at least 3,000 North Korean soldiers",
        ),
    ],
)
def test_locate_is_tolerant_but_returns_the_original_slice(variant: str, original: str) -> None:
    span = locate_quote(variant, DOC)
    assert span is not None
    assert DOC[span[0] : span[1]] == original


def test_invented_and_tiny_quotes_are_not_found() -> None:
    assert locate_quote("at least 30,000 North Korean soldiers", DOC) is None
    assert locate_quote("tanks were sent", DOC) is None
    assert locate_quote("in", DOC) is None


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_located_quote_is_an_exact_slice_of_a_seed(data: st.DataObject) -> None:
    doc = data.draw(st.sampled_from(seed_documents()))
    start = data.draw(st.integers(0, len(doc.text) - 20))
    end = data.draw(st.integers(start + 12, min(len(doc.text), start + 200)))
    quote = doc.text[start:end]
    # A model re-types quotes: straight quote marks, collapsed whitespace.
    retyped = " ".join(quote.replace("’", "'").replace("“", '"').replace("”", '"').split())
    span = locate_quote(retyped, doc.text)
    if len(retyped.strip(".,;:!?\"' ")) < 8:
        return
    assert span is not None
    found = doc.text[span[0] : span[1]]
    # The citation carries the original characters, which re-type to the model's quote.
    assert _norm(found) in _norm(quote)
    assert len(_norm(found)) >= len(_norm(quote)) - 4


def _norm(text: str) -> str:
    table = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
    return " ".join(text.translate(table).lower().split())


def test_parse_answer_and_quotes() -> None:
    parsed = parse_output(
        "ANSWER:\nAt least 3,000 soldiers were stationed, per U.S. sources [1]. "
        "Sightings were confirmed in Kursk [2, 1].\n\nQUOTES:\n"
        '[1] "at least 3,000 North Korean soldiers"\n[2] “confirmed sightings”\n'
    )
    assert not parsed.abstained
    assert [s.markers for s in parsed.sentences] == [(1,), (2, 1)]
    assert parsed.sentences[0].text == "At least 3,000 soldiers were stationed, per U.S. sources."
    assert parsed.quotes == (
        Quote(1, "at least 3,000 North Korean soldiers"),
        Quote(2, "confirmed sightings"),
    )


def test_parse_tolerates_markdown_headers_and_missing_quotes_header() -> None:
    parsed = parse_output(
        '**Answer:** Over 10,000 troops [2].\n[2] "over 10,000 North Korean troops"'
    )
    assert parsed.sentences[0].markers == (2,)
    assert parsed.quotes == (Quote(2, "over 10,000 North Korean troops"),)


def test_parse_inline_quotes() -> None:
    parsed = parse_output('Officials said "over 10,000 North Korean troops" [3] were deployed.')
    assert Quote(3, "over 10,000 North Korean troops") in parsed.quotes


def test_parse_abstain_token_and_reason() -> None:
    assert parse_output("NOT_IN_SOURCES").abstained
    parsed = parse_output("NOT_IN_SOURCES: the sources do not mention tanks")
    assert parsed.abstained
    assert parsed.reason == "the sources do not mention tanks"


@pytest.mark.parametrize("text", ["", "   ", "ANSWER:\nQUOTES:\n"])
def test_unparseable_outputs_raise(text: str) -> None:
    with pytest.raises(UnparseableOutputError):
        parse_output(text)


def test_replace_markers_renumbers_and_drops_unknown() -> None:
    out = replace_markers("A [2]; b [1, 3]; c [9].", {1: [1], 2: [4, 5], 3: [2]})
    assert out == "A [4][5]; b [1][2]; c."


def test_split_sentences_handles_abbreviations_and_missing_spaces() -> None:
    text = "Colonel of the U.S. Army spoke. Then Mr. Kim left.The next one began! Is it? Yes"
    pieces = [text[s:e] for s, e in split_sentences(text)]
    assert pieces == [
        "Colonel of the U.S. Army spoke.",
        "Then Mr. Kim left.",
        "The next one began!",
        "Is it?",
        "Yes",
    ]
