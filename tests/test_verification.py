"""Verification: only located quotes survive, and only supported sentences are presented."""

from __future__ import annotations

from service.answering.evidence import Source
from service.answering.generators.llm_format import parse_output
from service.answering.verification import VerifiedAnswer, names_in, numbers_in, verify_output

DOC_A = (
    "Reports from South Korean intelligence suggest that over 10,000 North Korean troops have "
    "been deployed to Russia. NATO Secretary-General Mark Rutte mentioned that this could be a "
    "sign of Putin’s desperation."
)
DOC_B = (
    "Intro line.\nWhile Pyongyang denies sending combat troops to Russia, reports from both U.S. "
    "and South Korean sources indicate that at least 3,000 North Korean soldiers have been "
    "stationed in Russia."
)
B_START = DOC_B.index("While")
SOURCES = [
    Source(n=1, doc_id="a", chunk_id="ca", title="A", text=DOC_A, start=0),
    Source(n=2, doc_id="b", chunk_id="cb", title="B", text=DOC_B[B_START:], start=B_START),
]
DOCS = {"a": DOC_A, "b": DOC_B}


def _verify(text: str) -> VerifiedAnswer:
    return verify_output(parse_output(text), SOURCES, DOCS)


def test_good_citations_map_to_exact_document_offsets() -> None:
    result = _verify(
        "ANSWER:\nOver 10,000 troops were deployed, per South Korean intelligence [1]. "
        "U.S. and South Korean sources say at least 3,000 [2].\nQUOTES:\n"
        '[1] "over 10,000 North Korean troops have been deployed"\n'
        '[2] "at least 3,000 North Korean soldiers have been stationed in Russia"\n'
    )
    assert not result.abstained
    assert [c.id for c in result.citations] == [1, 2]
    for c in result.citations:
        assert DOCS[c.doc_id][c.start : c.end] == c.quote
    assert result.citations[1].start >= B_START  # offsets are document offsets, not chunk ones
    # A model's quote is cited as the whole sentence it stands in.
    assert result.citations[1].quote.startswith("While Pyongyang denies")
    assert result.answer.endswith("[2].")
    assert all(s.supported for s in result.sentences)


def test_quote_with_typography_differences_is_replaced_by_the_original() -> None:
    result = _verify(
        'ANSWER:\nRutte spoke of desperation [1].\nQUOTES:\n[1] "sign of Putin\'s desperation"'
    )
    assert result.citations[0].quote.endswith("a sign of Putin’s desperation.")


def test_invented_quote_is_dropped_and_unsupported_sentence_abstains() -> None:
    result = _verify(
        'ANSWER:\nNorth Korea sent 200 tanks [1].\nQUOTES:\n[1] "North Korea sent 200 tanks"'
    )
    assert result.abstained
    assert result.citations == ()
    assert result.dropped_quotes == 1
    assert result.sentences[0].supported is False
    assert "verified" in (result.abstain_reason or "")


def test_quote_given_for_the_wrong_source_is_cited_from_its_real_source() -> None:
    # The quote is real but lives in source 2, not source 1: the citation points at source 2,
    # says it was attributed by the verifier, and the answer's marker is rewritten to it.
    result = _verify(
        "ANSWER:\nAt least 3,000 soldiers were stationed in Russia [1].\nQUOTES:\n"
        '[1] "at least 3,000 North Korean soldiers have been stationed in Russia"'
    )
    assert not result.abstained
    assert [(c.doc_id, c.origin) for c in result.citations] == [("b", "attributed")]
    c = result.citations[0]
    assert DOCS["b"][c.start : c.end] == c.quote
    assert result.answer == "At least 3,000 soldiers were stationed in Russia [1]."


def test_marker_to_a_source_that_was_not_retrieved_is_removed() -> None:
    result = _verify(
        "ANSWER:\nOver 10,000 troops were deployed [1][7].\nQUOTES:\n"
        '[1] "over 10,000 North Korean troops"\n[7] "anything at all here"'
    )
    assert not result.abstained
    assert "[7]" not in result.answer
    assert [c.doc_id for c in result.citations] == ["a"]


def test_sentence_with_a_number_not_in_its_quote_is_unsupported_but_others_stay() -> None:
    result = _verify(
        "ANSWER:\nOver 10,000 troops were deployed [1]. Exactly 25,000 more are coming [1].\n"
        'QUOTES:\n[1] "over 10,000 North Korean troops have been deployed to Russia"'
    )
    assert not result.abstained
    assert [s.supported for s in result.sentences] == [True, False]
    assert "25,000" not in result.answer
    assert result.sentences[1].citations == ()


def test_sentence_with_a_name_not_in_its_quote_is_unsupported() -> None:
    result = _verify(
        "ANSWER:\nOver 10,000 troops were deployed, said Antonio Guterres [1].\n"
        'QUOTES:\n[1] "over 10,000 North Korean troops have been deployed to Russia"'
    )
    assert result.abstained


def test_uncited_sentences_are_presented_only_with_the_evidence_that_supports_them() -> None:
    result = _verify("ANSWER:\nNorth Korea has sent over 10,000 troops to Russia.")
    assert result.answer == "North Korea has sent over 10,000 troops to Russia [1]."
    (c,) = result.citations
    assert (c.doc_id, c.origin) == ("a", "attributed")
    assert "over 10,000 North Korean troops" in c.quote
    assert DOC_A[c.start : c.end] == c.quote
    unsupported = _verify("ANSWER:\nNorth Korea has sent 25,000 tanks to Belarus.")
    assert unsupported.abstained
    assert unsupported.answer == ""


def test_marker_without_quote_gets_the_best_matching_source_sentence() -> None:
    result = _verify(
        "ANSWER:\nNATO Secretary-General Mark Rutte called it a sign of desperation [1]."
    )
    assert not result.abstained
    assert result.citations[0].quote.startswith("NATO Secretary-General Mark Rutte")
    assert DOC_A[result.citations[0].start : result.citations[0].end] == result.citations[0].quote


def test_markers_are_renumbered_in_place() -> None:
    result = _verify(
        "ANSWER:\nFigures differ: at least 3,000 per U.S. and South Korean sources [2]; over "
        "10,000 per South Korean intelligence [1].\nQUOTES:\n"
        '[2] "at least 3,000 North Korean soldiers"\n[1] "over 10,000 North Korean troops"'
    )
    assert result.answer == (
        "Figures differ: at least 3,000 per U.S. and South Korean sources [1]; over 10,000 per "
        "South Korean intelligence [2]."
    )
    assert [c.doc_id for c in result.citations] == ["b", "a"]


def test_abstained_output_passes_through() -> None:
    result = _verify("NOT_IN_SOURCES: no tanks")
    assert result.abstained
    assert result.abstain_reason == "no tanks"


def test_number_and_name_extraction() -> None:
    assert numbers_in("at least 3,000 and 12,000 in 2024.") == {"3000", "12000", "2024"}
    assert names_in("The report by Mark Rutte of NATO") == ["Mark", "Rutte", "NATO"]
