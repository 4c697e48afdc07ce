"""Quantities in quotes, who reported them, and conflicts between sources.

A conflict is two or more cited sources giving different values for the quantity a question asks
about (e.g. troop numbers: "at least 3,000" in one article, "over 10,000" in another). Values from
one citation are kept together ("at least 3,000, potentially reaching 12,000"): a range inside one
source is that source's claim, not a conflict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from index.text.tokens import is_month
from service.answering.question import QuestionInfo, asks_for_a_quantity, counted_noun
from service.answering.types import Citation, Conflict, ConflictValue

_QUALIFIER = (
    r"at least|more than|over|up to|nearly|almost|about|around|roughly|some|approximately|"
    r"as many as|potentially reaching|reaching|fewer than|less than|an estimated|estimated"
)
_QTY_RE = re.compile(
    rf"(?:\b(?P<q>{_QUALIFIER})\s+)?"
    r"(?P<n>\b\d{1,3}(?:,\d{3})+\b|\b\d+(?:\.\d+)?(?:\s+(?:million|billion|thousand|hundred))?\b"
    r"|\b(?:tens of |hundreds of )?(?:thousands|hundreds|dozens|millions|billions)\b)",
    re.IGNORECASE,
)
_ATTRIB_RE = re.compile(
    r"\b(?i:according to|reports? from|per|citing|sources? (?:in|from))\s+(?i:reports? from\s+)?"
    r"(?i:both\s+|the\s+)?(?P<who>[A-Z][^,;:]{2,90}?)"
    r"(?=,|;|:|\s+(?:indicate|suggest|say|said|show|claim|report|estimate|confirm|believe|"
    r"note|reveal|state)s?\b|\s+that\b|$)"
)
_SUBJECT_ATTRIB_RE = re.compile(
    r"\b(?P<who>(?:[A-Z][\w.'’-]*\s+){0,3}(?:intelligence|officials|sources|media|military|"
    r"government|ministry|agency))\s+(?:has |have )?(?:said|says|say|estimated|estimates|"
    r"reported|reports|believes|believe|claims|claimed|confirmed)\b"
)


@dataclass(frozen=True)
class Quantity:
    """A number phrase in a text, e.g. "over 10,000"; ``key`` compares values across sources."""

    phrase: str
    key: str
    start: int
    end: int


def _is_year_or_date(text: str, m: re.Match[str]) -> bool:
    n = m.group("n")
    if re.fullmatch(r"(19|20)\d\d", n):
        return True
    before = text[max(0, m.start("n") - 12) : m.start("n")].lower().split()
    after = text[m.end("n") : m.end("n") + 12].lower().split()
    return bool((before and is_month(before[-1])) or (after and is_month(after[0].strip(",."))))


def quantities(text: str) -> list[Quantity]:
    """Counts and amounts in ``text`` (years, dates and layout numbers like "16 px" excluded)."""
    out: list[Quantity] = []
    for m in _QTY_RE.finditer(text):
        if _is_year_or_date(text, m):
            continue
        tail = text[m.end() : m.end() + 4].lower()
        if tail.strip().startswith(("px", "%", "pt")) and not tail.startswith("%"):
            continue
        phrase = m.group(0).strip()
        key = m.group("n").lower().replace(",", "")
        out.append(Quantity(phrase=phrase, key=key, start=m.start(), end=m.end()))
    return out


def quantities_about(text: str, focus: str | None) -> list[Quantity]:
    """Quantities of a cited sentence, for the thing counted (``focus``, a term).

    Sentence-level on purpose: "3,000 soldiers ..., with numbers potentially reaching 12,000" gives
    the second figure without repeating the noun. The sentences were chosen as answers to the
    question, so a sentence that words the counted thing differently ("soldiers" for "troops")
    still counts; only when it names the thing are other sentences' figures left out.
    """
    return quantities(text)


def attribution(text: str) -> str:
    """Who a quote says reported its claim ("South Korean intelligence"), or ""."""
    m = _ATTRIB_RE.search(text)
    if m:
        who = m.group("who").strip()
        who = re.sub(r"\s+(?:that|who|which)$", "", who)
        if len(who.split()) <= 10:
            return who
    m2 = _SUBJECT_ATTRIB_RE.search(text)
    if m2:
        return m2.group("who").strip()
    return ""


def citation_value(quote: str, focus: str | None) -> tuple[str, frozenset[str]]:
    """The value phrase a quote gives for ``focus`` and the set of its comparable keys."""
    qs = quantities_about(quote, focus)
    phrase = ", ".join(q.phrase for q in qs)
    return phrase, frozenset(q.key for q in qs)


def find_conflicts(analysis: QuestionInfo, citations: Sequence[Citation]) -> tuple[Conflict, ...]:
    """One :class:`Conflict` when two or more documents give different values for the quantity
    the question asks about."""
    if not asks_for_a_quantity(analysis):
        return ()
    values: list[ConflictValue] = []
    keys_by_doc: dict[str, frozenset[str]] = {}
    for c in citations:
        phrase, keys = citation_value(c.quote, counted_noun(analysis))
        if not keys or c.doc_id in keys_by_doc:
            continue
        keys_by_doc[c.doc_id] = keys
        values.append(
            ConflictValue(
                value=phrase, citation=c.id, doc_id=c.doc_id, attribution=attribution(c.quote)
            )
        )
    if len(values) < 2 or len(set(keys_by_doc.values())) < 2:
        return ()
    return (Conflict(topic=topic_of(analysis), values=tuple(values)),)


def topic_of(analysis: QuestionInfo) -> str:
    """A short label for what is being counted, e.g. "number of troop"."""
    q = analysis.text.lower()
    m = re.search(
        r"\bhow (?:many|much)\s+(.+?)(?:\s+(?:did|do|does|is|are|was|were|has|have|had|"
        r"will|would|could|can|in|to|on|at|from|by)\b|\?|$)",
        q,
    )
    if m:
        return f"number of {m.group(1).strip()}"
    return f"number of {analysis.head or 'items'}"


def conflict_sentence(conflicts: Sequence[Conflict]) -> str:
    """The answer's opening when sources disagree: each value with who reported it and its
    citation ("The sources give different figures: over 10,000 per South Korean intelligence
    [2]; at least 3,000 [1].")."""
    parts = []
    for conflict in conflicts:
        for v in conflict.values:
            who = f" per {v.attribution}" if v.attribution else ""
            parts.append(f"{v.value}{who} [{v.citation}]")
    return "The sources give different figures: " + "; ".join(parts) + "."
