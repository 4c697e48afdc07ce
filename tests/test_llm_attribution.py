"""Any model output, however wrong, yields only citations whose quote is at its offsets, and
only sentences some retrieved source supports (adversarial replies and a property test)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from service.answering.evidence import Draft
from service.answering.generators.gate import ANY_CODES, OUTSIDE_CODES, EvidenceGate
from service.answering.generators.protocol import Generation
from service.answering.pipeline import AnswerPipeline
from service.answering.types import Answer
from service.wiring import prompt_version
from tests.fakes import FakeGenerator, seed_fake_index

Q = "Who signed the mutual defense pact?"
INDEX = seed_fake_index()
HITS = INDEX.search(Q, top_k=5)
TEXTS = [h.chunk.text for h in HITS]
PACT = next(t for t in TEXTS if "Kim Jong Un and Vladimir Putin" in t)
PACT_N = TEXTS.index(PACT) + 1


def _answer(reply: str) -> Answer:
    pipeline = AnswerPipeline(INDEX, FakeGenerator(reply), prompt_version=prompt_version())
    return pipeline.answer(Q)


def _stream(reply: str) -> list[str]:
    pipeline = AnswerPipeline(INDEX, FakeGenerator(reply), prompt_version=prompt_version())
    return [e.text for e in pipeline.answer_stream(Q) if e.answer is None]


def _json(*sentences: tuple[int, str, str]) -> str:
    items = [{"source": n, "quote": q, "text": t} for n, q, t in sentences]
    return json.dumps({"found": True, "sentences": items})


def _assert_exact(answer: Answer) -> None:
    for c in answer.citations:
        assert INDEX.get_document(c.doc_id).text[c.start : c.end] == c.quote
    for s in answer.sentences:
        assert s.supported == bool(s.citations)


def test_a_good_json_reply_keeps_the_models_quote() -> None:
    answer = _answer(
        _json((PACT_N, "signed between Kim Jong Un and Vladimir Putin", "Kim and Putin signed it."))
    )
    _assert_exact(answer)
    assert not answer.abstained
    assert [c.origin for c in answer.citations] == ["model"]
    assert "Kim Jong Un and Vladimir Putin" in answer.citations[0].quote


def test_invented_quote_and_invented_claim_are_never_shown() -> None:
    answer = _answer(_json((1, "Putin and Kim met on the Moon in 1999", "They met on the Moon.")))
    _assert_exact(answer)
    assert answer.abstained
    assert answer.citations == ()
    assert "Moon" not in answer.answer


def test_wrong_source_number_is_cited_from_the_source_that_says_it() -> None:
    wrong = next(i for i, t in enumerate(TEXTS, start=1) if "Putin" not in t)
    answer = _answer(
        _json((wrong, "signed between Kim Jong Un and Vladimir Putin", "Kim and Putin signed it."))
    )
    _assert_exact(answer)
    (c,) = answer.citations
    assert c.origin == "attributed"
    assert "signed between Kim Jong Un and Vladimir Putin" in c.quote
    assert c.chunk_id != HITS[wrong - 1].chunk.id


def test_source_numbers_that_were_never_retrieved_cite_nothing_invented() -> None:
    answer = _answer(_json((0, "no such source", "Nothing."), (99, "nothing", "Nothing either.")))
    _assert_exact(answer)
    assert answer.abstained


def test_a_quote_split_across_two_sources_is_not_cited_as_one() -> None:
    first = PACT[:40]
    other = next(t for t in TEXTS if t != PACT)
    spliced = first + " " + other[:40]
    answer = _answer(_json((PACT_N, spliced, "Kim Jong Un and Vladimir Putin signed the pact.")))
    _assert_exact(answer)
    assert all(spliced not in c.quote for c in answer.citations)
    # The claim itself is supported, so it is attributed to its evidence, never to the splice.
    assert not answer.abstained
    assert all(c.origin == "attributed" for c in answer.citations)


def test_prose_without_markers_is_attributed_or_dropped() -> None:
    answer = _answer(
        "Kim Jong Un and Vladimir Putin signed the mutual defense agreement in June 2024. "
        "The agreement was signed on a spaceship orbiting Jupiter."
    )
    _assert_exact(answer)
    assert [s.supported for s in answer.sentences] == [True, False]
    assert "Jupiter" not in answer.answer
    assert {c.origin for c in answer.citations} == {"attributed"}


def test_marker_reply_with_fabricated_quotes_shows_only_supported_sentences() -> None:
    answer = _answer(
        "ANSWER:\nPutin signed [1]. Kim signed too [2].\nQUOTES:\n"
        '[1] "Putin signed a treaty on Mars"\n[2] "Kim signed in 1850"'
    )
    _assert_exact(answer)
    assert "Mars" not in answer.answer
    assert "1850" not in answer.answer


def test_streaming_never_sends_a_sentence_that_fails_verification() -> None:
    reply = _json(
        (PACT_N, "signed between Kim Jong Un and Vladimir Putin", "Kim and Putin signed the pact."),
        (1, "the treaty was signed on Jupiter", "It was signed on Jupiter."),
    )
    sent = _stream(reply)
    assert len(sent) == 1
    assert "Jupiter" not in sent[0]
    assert "[1]" in sent[0]
    assert sent[0].endswith("].")


_FRAGMENTS = st.sampled_from(
    [*(t[i : i + 30] for t in TEXTS for i in range(0, len(t) - 30, 45)), "Moon", "in 1999", "Mars"]
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-2, 8), _FRAGMENTS, st.lists(_FRAGMENTS, min_size=1, max_size=3)),
        min_size=1,
        max_size=3,
    ),
    st.booleans(),
)
def test_no_model_output_yields_a_citation_off_its_offsets(
    parts: list[tuple[int, str, list[str]]], as_json: bool
) -> None:
    if as_json:
        reply = _json(*((n, q, " ".join(t) + ".") for n, q, t in parts))
    else:
        reply = " ".join(f"{' '.join(t)} [{n}]." for n, _q, t in parts)
    answer = _answer(reply)
    _assert_exact(answer)
    assert answer.abstained or answer.citations


class _Judge:
    """A default answerer that abstains with a given code."""

    model = "extractive/default"

    def __init__(self, code: str) -> None:
        self.code = code

    def generate(self, request: object) -> Generation:
        draft = Draft(abstained=True, sentences=(), quotes=(), abstain_code=self.code)
        return Generation(draft=draft, model=self.model)


def test_the_evidence_gate_vetoes_llm_answers_the_default_answerer_finds_off_topic() -> None:
    reply = _json((PACT_N, "signed between Kim Jong Un and Vladimir Putin", "Kim and Putin."))

    def ask(code: str, codes: frozenset[str]) -> Answer:
        gate = EvidenceGate(FakeGenerator(reply, reply), _Judge(code), codes)
        pipeline = AnswerPipeline(INDEX, gate, prompt_version=prompt_version())
        answer = pipeline.answer(Q)
        streamed = [e for e in pipeline.answer_stream(Q) if e.answer is None]
        assert bool(streamed) != answer.abstained  # the stream is vetoed alike
        return answer

    assert ask("question_outside_corpus", OUTSIDE_CODES).abstained
    assert not ask("low_confidence", OUTSIDE_CODES).abstained
    assert ask("low_confidence", ANY_CODES).abstained
