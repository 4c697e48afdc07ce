"""Sentence splitting, token-budgeted chunking and near-duplicate collapsing."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.embedders.tokenizer import ModelTokenizer, load_default_tokenizer
from index.ingestion.chunking import DEFAULT_TARGET_TOKENS, chunk_document
from index.ingestion.dedupe import collapse_near_duplicates, find_near_duplicates
from index.ingestion.reading import document_from_text, load_paths
from index.models import Chunk, Document, make_chunk_id
from index.text.sentences import split_sentences

TOK = load_default_tokenizer()
LIMIT = TOK.max_seq_length  # 256, specials included


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def _check_chunks(doc: Document, chunks: list[Chunk], tok: ModelTokenizer = TOK) -> None:
    """Invariants every chunking result must satisfy."""
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.doc_id == doc.id
        assert c.id == make_chunk_id(doc.id, c.start, c.end)
        assert c.title == doc.title
        assert c.n_tokens == tok.count(c.text)
        assert c.n_tokens + tok.n_special_tokens <= LIMIT
        for bs, be in doc.boilerplate:
            assert c.end <= bs or c.start >= be, (c.text, doc.text[bs:be])
    assert len({c.id for c in chunks}) == len(chunks)


def _covered(text: str, spans: list[tuple[int, int]], s: int, e: int) -> bool:
    """Whether every non-space character of ``text[s:e]`` lies in one of ``spans``."""
    return all(text[i].isspace() or any(a <= i < b for a, b in spans) for i in range(s, e))


# --------------------------------------------------------------------------- sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "According to retired U.S. Colonel Peter Mansoor, Kyiv could act. Mr. Smith met "
            "Gen. Lee. Dr. Ruiz agreed.",
            [
                "According to retired U.S. Colonel Peter Mansoor, Kyiv could act.",
                "Mr. Smith met Gen. Lee.",
                "Dr. Ruiz agreed.",
            ],
        ),
        (
            "At least 3,000 soldiers arrived, possibly 12,000. Costs rose 4.5 percent.",
            ["At least 3,000 soldiers arrived, possibly 12,000.", "Costs rose 4.5 percent."],
        ),
        (
            'He wrote, “It could change the calculus.” This sentiment grew. "Why?" she asked.',
            [
                "He wrote, “It could change the calculus.”",
                "This sentiment grew.",
                '"Why?" she asked.',
            ],
        ),
        (
            "foreign military involvement.The June 2024 mutual defense agreement was signed.",
            ["foreign military involvement.", "The June 2024 mutual defense agreement was signed."],
        ),
        (
            "He lived in the U.S. for years. It moved to the U.S. The talks ended.",
            ["He lived in the U.S. for years.", "It moved to the U.S.", "The talks ended."],
        ),
        (
            "Headline Without Period\nFirst line of text. Second one!\n\nThird? Yes.",
            ["Headline Without Period", "First line of text.", "Second one!", "Third?", "Yes."],
        ),
        (
            "A hard-wrapped sentence that\ncontinues on the next line. Next.",
            ["A hard-wrapped sentence that\ncontinues on the next line.", "Next."],
        ),
        (
            "Visit example.com today. Version 2.0 shipped.",
            ["Visit example.com today.", "Version 2.0 shipped."],
        ),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def test_split_sentences_window_offsets_point_into_the_whole_text() -> None:
    text = "Before. Inside one. Inside two. After."
    start = text.index("Inside one")
    end = text.index(" After")
    spans = split_sentences(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Inside one.", "Inside two."]


def test_seed_002_glued_sentences_split(seeds_dir: Path) -> None:
    text = (seeds_dir / "002_305273ed8ae84061.txt").read_text(encoding="utf-8")
    sents = _sentences(text)
    assert (
        "If true, this would represent a notable escalation of North Korea's foreign "
        "military involvement." in sents
    )
    assert any(s.startswith("The June 2024 mutual defense agreement signed") for s in sents)
    assert any(s.startswith("North Korea’s motives are more self-serving") for s in sents)


# --------------------------------------------------------------------------- seeds


@pytest.fixture(scope="module")
def seed_docs(seeds_dir: Path) -> dict[str, Document]:
    docs, skipped = load_paths([seeds_dir])
    assert skipped == []
    return {d.id: d for d in docs}


@pytest.fixture(scope="module")
def seed_chunks(seed_docs: dict[str, Document]) -> dict[str, list[Chunk]]:
    return {i: chunk_document(d, TOK) for i, d in seed_docs.items()}


def test_seed_chunks_satisfy_invariants(
    seed_docs: dict[str, Document], seed_chunks: dict[str, list[Chunk]]
) -> None:
    for doc_id, chunks in seed_chunks.items():
        assert chunks, doc_id
        _check_chunks(seed_docs[doc_id], chunks)
        # Budgeted to the target, well below the model's hard limit.
        assert max(c.n_tokens for c in chunks) <= DEFAULT_TARGET_TOKENS


@pytest.mark.parametrize(
    "boilerplate",
    [
        "Also Read:-",
        "Western Australia Near Victory",
        "Read More:",
        "0 Comments",
        "16 px",
        "News.Az",
        "Discover more from",
        "Subscribe to get the latest posts",
    ],
)
def test_seed_boilerplate_stays_out_of_chunks(
    seed_chunks: dict[str, list[Chunk]], boilerplate: str
) -> None:
    assert not any(boilerplate in c.text for cs in seed_chunks.values() for c in cs)


def test_seed_triple_title_stays_out_of_chunks(
    seed_docs: dict[str, Document], seed_chunks: dict[str, list[Chunk]]
) -> None:
    doc = seed_docs["002_305273ed8ae84061"]
    assert doc.title == "Is the North Korean leader preparing his troops for deployment to Ukraine?"
    assert not any(doc.title in c.text for c in seed_chunks[doc.id])
    assert all(c.title == doc.title for c in seed_chunks[doc.id])


@pytest.mark.parametrize(
    ("doc_id", "sentence"),
    [
        (
            "000_b9f469ab44661bfc",
            "While Pyongyang denies sending combat troops to Russia, reports from both U.S. and "
            "South Korean sources indicate that at least 3,000 North Korean soldiers have been "
            "stationed in Russia, with numbers potentially reaching 12,000.",
        ),
        (
            "004_114b54cabd2150fb",
            "Reports from South Korean intelligence suggest that over 10,000 North Korean troops "
            "have been deployed to Russia.",
        ),
        (
            "002_305273ed8ae84061",
            "The June 2024 mutual defense agreement signed between Kim Jong Un and Vladimir Putin "
            "appears to be the linchpin of this increasing cooperation.",
        ),
        (
            "003_f3496298b4f174d5",
            "This unprecedented move comes after a mutual defense pact was signed between Kim "
            "Jong-un and Vladimir Putin earlier this year.",
        ),
    ],
)
def test_seed_fact_sentences_are_in_a_chunk(
    seed_chunks: dict[str, list[Chunk]], doc_id: str, sentence: str
) -> None:
    assert any(sentence in c.text for c in seed_chunks[doc_id])


def test_every_seed_sentence_outside_boilerplate_is_chunked(
    seed_docs: dict[str, Document], seed_chunks: dict[str, list[Chunk]]
) -> None:
    for doc_id, doc in seed_docs.items():
        spans = [(c.start, c.end) for c in seed_chunks[doc_id]]
        for s, e in split_sentences(doc.text):
            if any(bs <= s < be for bs, be in doc.boilerplate):
                continue
            assert any(a <= s and e <= b for a, b in spans), doc.text[s:e]


def test_overlap_repeats_one_sentence_inside_a_paragraph(
    seed_docs: dict[str, Document], seed_chunks: dict[str, list[Chunk]]
) -> None:
    # 002's second paragraph is long and glued: it spans several chunks that overlap.
    doc = seed_docs["002_305273ed8ae84061"]
    chunks = seed_chunks[doc.id]
    overlapping = [(a, b) for a, b in itertools.pairwise(chunks) if b.start < a.end]
    assert overlapping
    for a, b in overlapping:
        shared = doc.text[b.start : a.end]
        assert len(_sentences(shared)) == 1
        assert a.text.endswith(shared)


def test_chunks_do_not_cross_paragraphs_needlessly(
    seed_docs: dict[str, Document], seed_chunks: dict[str, list[Chunk]]
) -> None:
    # 000's paragraphs are 60-100 tokens: each is chunked on its own, headline with the first.
    doc = seed_docs["000_b9f469ab44661bfc"]
    for c in seed_chunks[doc.id][1:]:
        assert c.text.count("\n") == 0 or c.start == 0, c.text
    # 001's paragraphs (57-89 tokens) would not fit two to a chunk: one chunk each.
    doc_001 = seed_docs["001_1dd7cd56be1e7884"]
    paragraphs = [p for p in doc_001.text.split("\n") if p.strip()]
    assert [c.text for c in seed_chunks[doc_001.id]] == paragraphs
    # 003's subheadings open the chunk of the paragraph they introduce.
    chunks_003 = seed_chunks["003_f3496298b4f174d5"]
    heading = "Conclusion: A Dangerous Precedent"
    assert any(c.text.startswith(heading + "\nThe presence") for c in chunks_003)


def test_rechunking_gives_the_same_ids(seed_docs: dict[str, Document]) -> None:
    doc = seed_docs["000_b9f469ab44661bfc"]
    assert [c.id for c in chunk_document(doc, TOK)] == [c.id for c in chunk_document(doc, TOK)]


def test_smaller_budget_is_respected(seed_docs: dict[str, Document]) -> None:
    doc = seed_docs["002_305273ed8ae84061"]
    chunks = chunk_document(doc, TOK, max_tokens=48)
    _check_chunks(doc, chunks)
    assert max(c.n_tokens for c in chunks) <= 46
    assert len(chunks) > len(chunk_document(doc, TOK))


def test_target_tokens_is_a_parameter(seed_docs: dict[str, Document]) -> None:
    doc = seed_docs["001_1dd7cd56be1e7884"]
    big = chunk_document(doc, TOK, target_tokens=250)
    small = chunk_document(doc, TOK, target_tokens=60)
    _check_chunks(doc, big)
    _check_chunks(doc, small)
    assert len(small) > len(big)
    assert max(c.n_tokens for c in big) > DEFAULT_TARGET_TOKENS


def test_sentence_longer_than_the_limit_is_cut_at_token_boundaries() -> None:
    words = [f"soldier{i % 7}s" if i % 5 else "unbelievably" for i in range(900)]
    text = "Intro sentence here.\n" + " ".join(words) + " end.\nOutro sentence."
    doc = document_from_text(text, doc_id="long")
    chunks = chunk_document(doc, TOK)
    _check_chunks(doc, chunks)
    long_start = text.index("unbelievably")
    long_end = text.index(" end.") + len(" end.")
    assert _covered(text, [(c.start, c.end) for c in chunks], long_start, long_end)
    # Cuts fall between tokens: no piece starts inside a word.
    for c in chunks:
        assert c.start == 0 or not text[c.start - 1].isalnum()


def test_unbroken_text_without_spaces_is_still_capped() -> None:
    text = "x" + "ab" * 3000
    doc = document_from_text(text, doc_id="blob")
    chunks = chunk_document(doc, TOK)
    _check_chunks(doc, chunks)
    assert _covered(text, [(c.start, c.end) for c in chunks], 0, len(text))


def test_text_the_tokenizer_folds_is_bounded_in_characters() -> None:
    # One 50,000-character "word" is a single [UNK] token; it must not become one huge chunk.
    text = "x" * 50_000 + " tail words here."
    doc = document_from_text(text, doc_id="unk")
    chunks = chunk_document(doc, TOK)
    _check_chunks(doc, chunks)
    assert max(len(c.text) for c in chunks) <= 4000
    assert _covered(text, [(c.start, c.end) for c in chunks], 0, len(text))


def test_max_tokens_too_small_is_rejected(seed_docs: dict[str, Document]) -> None:
    with pytest.raises(ValueError, match="no room"):
        chunk_document(seed_docs["000_b9f469ab44661bfc"], TOK, max_tokens=2)


# --------------------------------------------------------------------------- properties

_LETTERS = "abcdefghijklmnopqrstuvwxyzäöüéçñøßжщλ"
# A fixed random vocabulary: drawing from it is much cheaper than generating every word.
_RNG = random.Random(7)
_VOCAB = sorted(
    {"".join(_RNG.choice(_LETTERS) for _ in range(_RNG.randint(4, 10))) for _ in range(400)}
)
_WORD = st.sampled_from(_VOCAB)
_EXTRAS = ["3,000", "12,000", "4.5", "U.S.", "Mr.", "Gen.", "(NATO)", "—", "中文"]
# About one token in four is a number, abbreviation or symbol.
_TOKEN = st.sampled_from(_VOCAB + _EXTRAS * 15)
_BOILERPLATE = st.sampled_from(
    [
        "Also Read:- Markets slide as talks stall",
        "Related articles:",
        "See also: a timeline of the war",
        "7 Comments",
        "No comments yet",
        "Subscribe to our newsletter for updates.",
        "Discover more from The Morning Ledger",
        "+ ↺ − 16 px",
        "A- A A+",
        "Advertisement",
        "Read More:",
    ]
)


def _unique_word(k: int) -> str:
    return "Zq" + "".join("abcdefghij"[int(d)] for d in str(k))


@st.composite
def _sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(_TOKEN, min_size=3, max_size=30))
    first = draw(_WORD).capitalize()
    # A plain word before the final stop: "Mr.?" would be a boundary inside the sentence.
    body = " ".join([first, *words, draw(_WORD)])
    end = draw(st.sampled_from([".", ".", ".", "!", "?", '."', ".”"]))
    if draw(st.booleans()) and end in {'."', ".”"}:
        body = ("“" if end == ".”" else '"') + body
    return body + end


@st.composite
def _article(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    """Text with known article-sentence spans and known inserted boilerplate-line spans."""
    parts: list[str] = []
    sentence_spans: list[tuple[int, int]] = []
    boiler_spans: list[tuple[int, int]] = []
    pos = 0

    def add(s: str) -> tuple[int, int]:
        nonlocal pos
        parts.append(s)
        pos += len(s)
        return pos - len(s), pos

    n_items = draw(st.integers(1, 8))
    for k in range(n_items):
        if k:
            add(draw(st.sampled_from(["\n", "\n", "\n\n", "\r\n", "\n \n"])))
        if draw(st.integers(0, 3)) == 0:
            boiler_spans.append(add(draw(_BOILERPLATE)))
            continue
        sents = draw(st.lists(_sentence(), min_size=1, max_size=8))
        sents[0] = _unique_word(k) + " " + sents[0]
        for j, sent in enumerate(sents):
            if j:
                # Mostly a space; sometimes glued after a period, as in seed 002.
                glue = " " if not sent[0].isupper() or sents[j - 1][-1] != "." else None
                add(glue if glue is not None else draw(st.sampled_from([" ", " ", "  ", ""])))
            sentence_spans.append(add(sent))
    return "".join(parts), sentence_spans, boiler_spans


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_article(), st.sampled_from([256, 128, 64]), st.sampled_from([120, 60, 160]))
def test_property_chunking_keeps_every_article_sentence(
    article: tuple[str, list[tuple[int, int]], list[tuple[int, int]]],
    max_tokens: int,
    target: int,
) -> None:
    text, sentence_spans, boiler_spans = article
    doc = document_from_text(text, doc_id="gen")
    chunks = chunk_document(doc, TOK, max_tokens=max_tokens, target_tokens=target)
    _check_chunks(doc, chunks)
    assert all(c.n_tokens + 2 <= max_tokens for c in chunks)
    # Inserted boilerplate is recognised; article sentences are never mistaken for it.
    detected = set(doc.boilerplate)
    assert set(boiler_spans) <= detected
    for s, e in sentence_spans:
        assert not any(bs < e and s < be for bs, be in detected), text[s:e]
    # Chunking loses no article sentence: each lies in one chunk, or (if it alone exceeds the
    # budget) in consecutive pieces.
    spans = [(c.start, c.end) for c in chunks]
    hard = max_tokens - 2
    for s, e in sentence_spans:
        if TOK.count(text[s:e]) <= hard:
            assert any(a <= s and e <= b for a, b in spans), text[s:e]
        else:
            assert _covered(text, spans, s, e), text[s:e]
    # Stable ids: re-chunking the same document gives the same chunks.
    again = chunk_document(doc, TOK, max_tokens=max_tokens, target_tokens=target)
    assert [c.id for c in again] == [c.id for c in chunks]


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.characters(codec="utf-8", exclude_categories=["Cs"]),
            st.sampled_from(list(" \n\n\r.!?,:;-\"“”'")),
        ),
        min_size=1,
        max_size=1500,
    ).filter(lambda t: t.strip() != "")
)
def test_property_arbitrary_text_loses_nothing_outside_boilerplate(text: str) -> None:
    doc = document_from_text(text, doc_id="free")
    chunks = chunk_document(doc, TOK, max_tokens=64, target_tokens=40)
    _check_chunks(doc, chunks)
    spans = [(c.start, c.end) for c in chunks]
    for i, ch in enumerate(text):
        if not ch.isalnum() or any(bs <= i < be for bs, be in doc.boilerplate):
            continue
        assert any(a <= i < b for a, b in spans), (i, ch)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab U.S.Mr3,0\n\r\u2028!?”“\"'中")), max_size=300))
def test_property_sentence_spans_tile_the_text(text: str) -> None:
    spans = split_sentences(text)
    assert spans == sorted(spans)
    for (_, e1), (s2, _) in itertools.pairwise(spans):
        assert e1 <= s2
    for s, e in spans:
        assert s < e
        assert not text[s].isspace()
        assert not text[e - 1].isspace()
    # Only whitespace falls between sentences.
    covered: set[int] = set()
    for s, e in spans:
        covered.update(range(s, e))
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)


# --------------------------------------------------------------------------- near-duplicates


def _chunk(doc_id: str, start: int, text: str) -> Chunk:
    end = start + len(text)
    return Chunk(make_chunk_id(doc_id, start, end), doc_id, start, end, text)


PARA = (
    "North Korea has sent thousands of soldiers to Russia, according to intelligence "
    "officials in Seoul, who said the troops were training near the border."
)


def test_exact_and_near_duplicates_across_documents_collapse_to_the_first_doc() -> None:
    a = _chunk("b_doc", 0, PARA)
    b = _chunk("a_doc", 100, PARA.replace("thousands", "Thousands") + " ")
    c = _chunk("c_doc", 0, PARA.replace("near the border", "near the frontier"))
    other = _chunk("a_doc", 0, "Completely different text about grain exports and shipping.")
    kept = collapse_near_duplicates([a, b, c, other])
    # "a_doc" sorts first, so its copy is the one kept; the order of the rest is preserved.
    assert kept == [b, other]
    assert find_near_duplicates([a, b, c, other]) == {a.id: b.id, c.id: b.id}


def test_within_document_duplicates_collapse_to_the_earliest_offset() -> None:
    first = _chunk("d", 0, PARA)
    later = _chunk("d", 500, PARA)
    assert collapse_near_duplicates([later, first]) == [first]


def test_overlapping_neighbours_are_not_duplicates(seed_chunks: dict[str, list[Chunk]]) -> None:
    chunks = [c for cs in seed_chunks.values() for c in cs]
    assert collapse_near_duplicates(chunks) == chunks


def test_threshold_controls_what_counts_as_duplicate() -> None:
    a = _chunk("d", 0, PARA)
    b = _chunk("e", 0, PARA.replace("near the border", "in the far east of the country"))
    assert collapse_near_duplicates([a, b], threshold=0.6) == [a]
    assert collapse_near_duplicates([a, b], threshold=0.95) == [a, b]


def test_collapse_is_order_independent() -> None:
    chunks = [
        _chunk(f"doc{i % 3}", i * 10, PARA if i % 2 else f"unique text {i} here") for i in range(9)
    ]
    forward = {c.id for c in collapse_near_duplicates(chunks)}
    backward = {c.id for c in collapse_near_duplicates(list(reversed(chunks)))}
    assert forward == backward
