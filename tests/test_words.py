"""The shared text primitives: word tokens, Snowball terms, stop words, sentences, headings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.text.cleaning import looks_like_headline
from index.text.sentences import split_sentences
from index.text.words import content_terms, is_stopword, term, words


def test_words_keep_numbers_initialisms_and_apostrophes() -> None:
    assert words("Kim Jong-un's 10,000 troops; the U.S. said 3.5") == [
        "Kim",
        "Jong",
        "un's",
        "10,000",
        "troops",
        "the",
        "U.S",
        "said",
        "3.5",
    ]
    assert words("Zelenskyy’s Ukraine, Київ") == ["Zelenskyy’s", "Ukraine", "Київ"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("unanimous", "unanimously"),
        ("country", "countries"),
        ("stop", "stopped"),
        ("ratify", "ratifying"),
        ("force", "forces"),
        ("supply", "supplying"),
        ("Korea", "Korea's"),
    ],
)
def test_term_merges_inflections(a: str, b: str) -> None:
    assert term(a) == term(b)


def test_term_keeps_numbers_and_initialisms() -> None:
    assert term("10,000") == "10000"
    assert term("U.S") == "u.s"
    assert term("bus") == "bus"
    assert term("kursk") == "kursk"


def test_content_terms_drop_question_words_and_normalise_numbers() -> None:
    terms = content_terms("How many of the 3,000 soldiers did Russia's parliament count?")
    assert terms == ["3000", term("soldiers"), "russia", term("parliament"), "count"]
    assert is_stopword("The")
    assert is_stopword("x")
    assert not is_stopword("7")


@given(st.text(max_size=200))
def test_term_and_words_never_fail(text: str) -> None:
    for w in words(text):
        assert w
        assert w in text
        assert isinstance(term(w), str)


def test_headings() -> None:
    assert looks_like_headline("Expert opinion on the implications of North Korean troops", 14)
    assert not looks_like_headline("Experts have pointed out that the army is well trained.", 14)
    assert not looks_like_headline(" ".join(["word"] * 20), 14)


def test_citation_markers_stay_with_the_sentence_they_close() -> None:
    text = "Putin signed the pact. [1] It was in June [2]. Then [3][4] more."
    pieces = [text[s:e] for s, e in split_sentences(text)]
    assert pieces == ["Putin signed the pact. [1]", "It was in June [2].", "Then [3][4] more."]
