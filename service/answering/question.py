"""What a question asks for, from its wording alone: wh-class, wanted answer shape, key terms.

The classes are English grammar (wh-words and a few measure nouns), not topics of any corpus; the
models downstream learn how much each class/shape pairing matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.text.tokens import NEGATIONS, Token, rarity, tokenize
from index.text.words import term

# Classes of question, by wh-word (and the noun after "what/which", and "how" + adjective).
QTYPES = (
    "who",
    "when",
    "where",
    "why",
    "how_many",
    "how_much",
    "how_adj",
    "how",
    "which",
    "what",
    "other",
)
# Nouns after what/which that ask for a time or an amount, in English generally.
_TIME_HEADS = frozenset(
    [
        "year",
        "years",
        "century",
        "centuries",
        "decade",
        "decades",
        "date",
        "month",
        "day",
        "era",
        "period",
        "age",
        "time",
    ]
)
_AMOUNT_HEADS = frozenset(
    ["percentage", "percent", "proportion", "number", "amount", "rate", "fraction", "share"]
)
_PERSON_HEADS = frozenset(
    ["person", "man", "woman", "king", "queen", "leader", "name", "people", "group"]
)
_PLACE_HEADS = frozenset(
    [
        "country",
        "city",
        "place",
        "region",
        "area",
        "state",
        "nation",
        "continent",
        "town",
        "island",
        "location",
    ]
)
WANTS = ("date", "number", "person", "place", "reason", "manner", "entity")


@dataclass(frozen=True)
class QuestionInfo:
    """The parts of a question the features use."""

    text: str
    tokens: tuple[Token, ...]
    qtype: str
    wants: str
    head: str  # the noun after what/which ("year", "country"), "" if none
    terms: tuple[str, ...]  # stemmed content terms (wh-words and stop words excluded)
    weights: tuple[float, ...]  # general rarity of each term's surface word
    names: tuple[str, ...]  # stems of capitalised words not at the start
    numbers: tuple[str, ...]
    negated: bool


def _wh(tokens: list[Token]) -> tuple[str, int]:
    """(wh-word, index) of the first wh-word, ("", -1) when there is none."""
    for i, t in enumerate(tokens):
        if t.low in ("who", "whom", "whose", "when", "where", "why", "how", "which", "what"):
            return t.low, i
    return "", -1


def _next_word(tokens: list[Token], i: int) -> str:
    for t in tokens[i + 1 :]:
        if t.is_word:
            return t.low
    return ""


def classify(tokens: list[Token]) -> tuple[str, str, str]:
    """(qtype, wanted shape, head noun)."""
    wh, i = _wh(tokens)
    nxt = _next_word(tokens, i) if i >= 0 else ""
    if wh in ("who", "whom", "whose"):
        return "who", "person", ""
    if wh == "when":
        return "when", "date", ""
    if wh == "where":
        return "where", "place", ""
    if wh == "why":
        return "why", "reason", ""
    if wh == "how":
        if nxt == "many":
            return "how_many", "number", _next_word(tokens, i + 1)
        if nxt == "much":
            return "how_much", "number", ""
        if nxt in ("long", "old", "far", "large", "big", "fast", "high", "often", "small", "heavy"):
            return "how_adj", "number", nxt
        return "how", "manner", ""
    if wh in ("what", "which"):
        head = nxt
        if head in ("kind", "type", "sort", "form"):
            head = _next_word(tokens, i + 2)  # "what kind of X": X is the head
        qtype = wh
        if head in _TIME_HEADS:
            return qtype, "date", head
        if head in _AMOUNT_HEADS:
            return qtype, "number", head
        if head in _PERSON_HEADS:
            return qtype, "person", head
        if head in _PLACE_HEADS:
            return qtype, "place", head
        return qtype, "entity", head
    return "other", "entity", ""


def analyse_question(question: str) -> QuestionInfo:
    """Analyse ``question``; any string is accepted (empty, punctuation-only, any script)."""
    tokens = tokenize(question)
    qtype, wants, head = classify(tokens)
    seen: dict[str, float] = {}
    names: list[str] = []
    numbers: list[str] = []
    first_word = next((k for k, t in enumerate(tokens) if t.is_word), -1)
    for k, t in enumerate(tokens):
        if not t.term:
            continue
        seen[t.term] = max(seen.get(t.term, 0.0), rarity(t.low))
        if t.is_number:
            numbers.append(t.term)
        elif t.is_capitalised and k != first_word:
            names.append(t.term)
    negated = any(t.low in NEGATIONS or t.low.endswith("n't") for t in tokens)
    return QuestionInfo(
        text=question,
        tokens=tuple(tokens),
        qtype=qtype,
        wants=wants,
        head=head,
        terms=tuple(seen),
        weights=tuple(seen.values()),
        names=tuple(dict.fromkeys(names)),
        numbers=tuple(dict.fromkeys(numbers)),
        negated=negated,
    )


def asks_for_a_quantity(q: QuestionInfo) -> bool:
    """ "How many ...", "how much ...", "what number of ...": sources may disagree on figures."""
    return q.qtype in ("how_many", "how_much") or (q.wants == "number" and q.qtype != "how_adj")


def counted_noun(q: QuestionInfo) -> str | None:
    """The term of what a quantity question counts ("troops" in "how many troops ..."), if any."""
    return term(q.head) if q.head and q.qtype == "how_many" else None
