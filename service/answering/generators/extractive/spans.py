"""Candidate answer spans inside a sentence, and their features, computed with prefix sums.

A candidate is any run of at most ``MAX_TOKENS`` tokens that starts and ends on a content word or
number and crosses no hard punctuation (brackets, colons, semicolons, quotes). Shapes (year, month,
number, ordinal, capitalised run) and the position against the question's words found in the
sentence are what the fitted span model weighs; crossing the wanted shape with each shape lets it
learn, e.g., that a "when" wants a year and a "who" a capitalised run.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.text.tokens import Token, is_month, is_year, rarity
from service.answering.question import QTYPES, WANTS, QuestionInfo

MAX_TOKENS = 10
_HARD = frozenset([*';:()[]{}"“”‘«»!?', "—", "–", "..."])
_ORDINAL_WORDS = frozenset(
    ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
)
_NUMBER_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "hundred",
        "thousand",
        "million",
        "billion",
        "dozen",
        "half",
        "several",
    ]
)
# Words before a span that mark its role (English prepositions and copulas).
_PREV_CLASSES: tuple[tuple[str, frozenset[str]], ...] = (
    ("prev_in", frozenset(["in", "on", "at"])),
    ("prev_by", frozenset(["by"])),
    ("prev_of", frozenset(["of"])),
    ("prev_time", frozenset(["from", "since", "during", "until", "before", "after", "between"])),
    (
        "prev_be",
        frozenset(
            [
                "is",
                "was",
                "are",
                "were",
                "be",
                "been",
                "became",
                "become",
                "called",
                "named",
                "known",
            ]
        ),
    ),
    ("prev_as", frozenset(["as", "like", "than"])),
    ("prev_to", frozenset(["to", "for", "into", "with"])),
    ("prev_the", frozenset(["the", "a", "an"])),
)
_ARTICLES = frozenset(("a", "an", "the"))
_SHAPES = ("year", "month", "num", "ordinal", "cap", "plain", "percent")
_BASE = (
    "n_words", "short", "long", "q_frac", "any_q", "cap_frac", "stop_frac", "rare_mean",
    "dist_left", "dist_right", "adj_left", "adj_right", "near_q", "between_q", "rel_pos",
    "comma", "in_parens", "head_in", "head_adj", "first_tok", "after_q_run",
    *(name for name, _ in _PREV_CLASSES),
    "next_comma", "next_of",
)  # fmt: skip
SPAN_FEATURES = (
    *_BASE,
    *(f"{w}*{s}" for w in WANTS for s in _SHAPES),
    *(f"{t}*{s}" for t in QTYPES for s in ("num", "cap", "year", "plain")),
)


@dataclass(frozen=True)
class SpanSet:
    """A sentence's candidate spans: token ranges, char offsets into the sentence, features."""

    first: np.ndarray  # first token index
    last: np.ndarray  # last token index (inclusive)
    start: np.ndarray  # char offsets into the sentence text
    end: np.ndarray
    features: np.ndarray


@dataclass(frozen=True)
class _Static:
    """The question-independent part of a sentence's spans: computed once per sentence text."""

    toks: tuple[Token, ...]
    first: np.ndarray
    last: np.ndarray
    counts: dict[str, np.ndarray]  # per span: how many tokens of each kind it holds
    depth: np.ndarray  # bracket depth at each span's first token
    prev_class: np.ndarray  # (spans, len(_PREV_CLASSES)) the word before the span
    next_comma: np.ndarray
    next_of: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


@functools.lru_cache(maxsize=20_000)
def _static(toks: tuple[Token, ...]) -> _Static | None:
    n = len(toks)
    first_word = next((k for k, t in enumerate(toks) if t.is_word), -1)
    edge = [t.is_word and (bool(t.term) or t.is_number or t.low in _NUMBER_WORDS) for t in toks]
    hard = np.asarray([t.text in _HARD for t in toks], dtype=bool)
    pairs = [
        (i, j)
        for i in range(n)
        if edge[i]
        for j in range(i, min(n, i + MAX_TOKENS))
        if edge[j] and not hard[i : j + 1].any()
    ]
    if not pairs:
        return None
    first = np.asarray([p[0] for p in pairs], dtype=np.int64)
    last = np.asarray([p[1] for p in pairs], dtype=np.int64)
    kinds = {
        "word": [t.is_word for t in toks],
        "stop": [t.is_word and not t.term for t in toks],
        "cap": [t.is_word and t.is_capitalised and k != first_word for k, t in enumerate(toks)],
        "num": [t.is_number or t.low in _NUMBER_WORDS for t in toks],
        "year": [is_year(t) for t in toks],
        "month": [is_month(t.low) for t in toks],
        "ordinal": [
            (t.is_number and t.low.endswith(("st", "nd", "rd", "th", "s")))
            or t.low in _ORDINAL_WORDS
            for t in toks
        ],
        "percent": [t.low in ("%", "percent", "per", "cent") for t in toks],
        "comma": [t.text == "," for t in toks],
        "rare": [rarity(t.low) if t.is_word else 0.0 for t in toks],
    }
    counts = {}
    for key, values in kinds.items():
        pre = _prefix(np.asarray(values, dtype=np.float32))
        counts[key] = pre[last + 1] - pre[first]
    depth = np.cumsum([1 if t.text in "([" else -1 if t.text in ")]" else 0 for t in toks])
    prev_low = [toks[i - 1].low if i > 0 else "" for i in first]
    # The role word before an article counts as before the span ("run by [a] national carrier"):
    # spans never start with an article, so without this the "by" would be lost.
    role_low = [
        toks[i - 2].low if i > 1 and toks[i - 1].low in _ARTICLES else p
        for i, p in zip(first, prev_low, strict=True)
    ]
    next_low = [toks[j + 1].low if j + 1 < n else "" for j in last]
    prev_class = np.asarray(
        [
            [(p if name == "prev_the" else r) in words for name, words in _PREV_CLASSES]
            for p, r in zip(prev_low, role_low, strict=True)
        ],
        dtype=np.float32,
    ).reshape(len(pairs), len(_PREV_CLASSES))
    return _Static(
        toks=toks,
        first=first,
        last=last,
        counts=counts,
        depth=depth[first],
        prev_class=prev_class,
        next_comma=np.asarray([x == "," for x in next_low], dtype=np.float32),
        next_of=np.asarray([x == "of" for x in next_low], dtype=np.float32),
        starts=np.asarray([toks[i].start for i in first], dtype=np.int64),
        ends=np.asarray([toks[j].end for j in last], dtype=np.int64),
    )


def _prefix(a: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(a)]).astype(np.float32)


def _nearest_q(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each token index: the last question-word index before it, the first one after it."""
    n = len(q)
    before = np.full(n + 1, -100, dtype=np.int64)
    after = np.full(n + 1, n + 100, dtype=np.int64)
    last = -100
    for k in range(n):
        before[k] = last
        if q[k]:
            last = k
    before[n] = last
    nxt = n + 100
    for k in range(n - 1, -1, -1):
        if q[k]:
            nxt = k
        after[k] = nxt
    return before, after


def candidate_spans(toks: Sequence[Token], q: QuestionInfo) -> SpanSet:
    """All candidate spans of a tokenised sentence and their ``SPAN_FEATURES`` rows."""
    st = _static(tuple(toks))
    if st is None:
        empty = np.zeros(0, dtype=np.int64)
        return SpanSet(empty, empty, empty, empty, np.zeros((0, len(SPAN_FEATURES)), np.float32))
    n = len(toks)
    first, last, c = st.first, st.last, st.counts
    qterms = set(q.terms)
    is_q = np.asarray([bool(t.term) and t.term in qterms for t in toks], dtype=np.float32)
    head = q.head[:4]
    is_head = np.asarray([bool(head) and t.low.startswith(head) for t in toks], dtype=np.float32)
    pre_q, pre_head = _prefix(is_q), _prefix(is_head)
    n_words = np.maximum(c["word"], 1.0)
    q_in = pre_q[last + 1] - pre_q[first]
    before, after = _nearest_q(is_q)
    dist_left = (first - before[first] - 1).astype(np.float32)
    dist_right = (after[last + 1] - last - 1).astype(np.float32)
    lo, hi = np.maximum(first - 3, 0), np.minimum(last + 4, n)
    near = pre_q[hi] - pre_q[lo] - q_in
    head_left = pre_head[first] - pre_head[np.maximum(first - 2, 0)]
    head_right = pre_head[np.minimum(last + 3, n)] - pre_head[last + 1]
    shapes = {
        "year": c["year"] > 0,
        "month": c["month"] > 0,
        "num": c["num"] > 0,
        "ordinal": c["ordinal"] > 0,
        "cap": c["cap"] / n_words >= 0.5,
        "percent": c["percent"] > 0,
    }
    shapes["plain"] = ~(shapes["num"] | shapes["cap"])
    f32 = np.float32
    base = [
        n_words / 10,
        (n_words <= 3).astype(f32),
        (n_words >= 7).astype(f32),
        q_in / n_words,
        (q_in > 0).astype(f32),
        c["cap"] / n_words,
        c["stop"] / n_words,
        c["rare"] / n_words,
        np.minimum(dist_left, 10) / 10,
        np.minimum(dist_right, 10) / 10,
        (dist_left == 0).astype(f32),
        (dist_right == 0).astype(f32),
        np.minimum(near, 4) / 4,
        ((before[first] >= 0) & (after[last + 1] < n)).astype(f32),
        first / max(1, n - 1),
        (c["comma"] > 0).astype(f32),
        (st.depth > 0).astype(f32),
        ((pre_head[last + 1] - pre_head[first]) > 0).astype(f32),
        ((head_left + head_right) > 0).astype(f32),
        (first == 0).astype(f32),
        ((dist_left <= 2) & (before[first] >= 0) & (is_q.sum() >= 2)).astype(f32),
        *st.prev_class.T,
        st.next_comma,
        st.next_of,
    ]
    zeros = np.zeros(len(first), dtype=f32)
    cross = [shapes[s].astype(f32) if q.wants == w else zeros for w in WANTS for s in _SHAPES]
    cross += [
        shapes[s].astype(f32) if q.qtype == t else zeros
        for t in QTYPES
        for s in ("num", "cap", "year", "plain")
    ]
    feats = np.stack([*base, *cross], axis=1).astype(f32)
    return SpanSet(first, last, st.starts, st.ends, feats)
