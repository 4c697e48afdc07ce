"""Whether a sentence holds the kind of answer a question asks for: a figure, a date, a name,
a place or a cause."""

from __future__ import annotations

import re

from index.text.cleaning import looks_like_headline
from index.text.words import STOPWORDS, words
from service.answering.conflicts import citation_value
from service.answering.generators.extractive.terms import Candidate
from service.answering.question import QuestionAnalysis, canonical, wordset

PLACE_WORDS = wordset(
    """
    north south korea russia ukraine western european america united states middle east asia
    europe peninsula china japan india iran israel syria
    """
)
PLACE_TERMS = frozenset(canonical(w) for w in PLACE_WORDS)
DATE_RE = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b(?:\s+\d{1,2})?(?:,?\s+(?:19|20)\d\d)?|\b(?:19|20)\d\d\b|"
    r"\b(?:earlier|later|last|this|next) (?:this )?(?:year|month|week|spring|summer|autumn|fall|"
    r"winter)\b|"
    # "enters its second year": a point in time counted from a start.
    r"\b(?:first|second|third|fourth|fifth|sixth|\d+(?:st|nd|rd|th)) (?:year|month|week|day)\b",
)
# A calendar date or year says more than "earlier this year".
EXPLICIT_DATE_RE = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b|\b(?:19|20)\d\d\b"
)
_CAUSE_RE = re.compile(
    r"\b(?:because|due to|in order to|so that|motives?|reasons?|driven by|as a result|"
    r"desperat\w*|struggl\w+|shortages?|in exchange|benefits?|gains?|opportunit\w+|"
    r"self-serving|seeks? to|aims? to)\b",
    re.IGNORECASE,
)
_PLACE_RE = re.compile(
    r"\b(?:in|to|near|at|from|into|across|of|on)\s+(?:the\s+)?(?:[A-Z][\w’'-]+\s+)?"
    r"(?:region|province|city|area|territory|border|peninsula|soil)?\s*(?:of\s+)?([A-Z][\w’'-]+)"
)
_NAME_RE = re.compile(r"\b(?:[A-Z][\w’'.-]*[a-z][\w’'-]*|[A-Z]{2,})(?:\s+(?:[A-Z][\w’'.-]+))*")


def has_answer_type(a: QuestionAnalysis, c: Candidate) -> bool:
    text = c.text
    if a.qtype != "count" and looks_like_headline(text):
        return False  # a headline states a topic, it does not name who, when or why
    if a.qtype == "count":
        return bool(citation_value(text, a.focus)[1]) and _modifiers_match(a, text)
    if a.qtype == "when":
        return bool(DATE_RE.search(text))
    if a.qtype == "who":
        return any(
            _person_like(a, m.group(0), text[m.end() :])
            for m in _NAME_RE.finditer(text)
            # A capitalised first word alone is just the start of the sentence, unless it owns
            # what follows ("Ukraine's military intelligence").
            if m.start() > 0 or len(words(m.group(0))) > 1 or m.group(0).endswith(("'s", "’s"))
        )
    if a.qtype == "where":
        return any(_new_name(a, m.group(1)) for m in _PLACE_RE.finditer(text))
    if a.qtype == "why":
        return bool(_CAUSE_RE.search(text))
    return False


def _modifiers_match(a: QuestionAnalysis, text: str) -> bool:
    """For "how many Ukrainian soldiers", the sentence's soldiers must be Ukrainian too."""
    if not a.modifiers or a.focus is None:
        return True
    tokens = [canonical(w) for w in words(text)]
    for i, t in enumerate(tokens):
        if t == a.focus and set(tokens[max(0, i - 3) : i]) & set(a.modifiers):
            return True
    return False


def _person_like(a: QuestionAnalysis, name: str, after: str = "") -> bool:
    """A name of a person or organisation the question does not already contain.

    Multi-word names need one word that is not a place ("South Korean" is no answer to "who");
    a single word must not be a demonym ("Russian").
    """
    tokens = [w for w in words(name) if w.lower() not in STOPWORDS]
    parts = [canonical(w) for w in tokens]
    if not parts:
        return False
    if len(parts) == 1:
        # Capitals stand for governments ("Pyongyang denies"); countries and demonyms are too
        # vague to answer "who".
        low = tokens[0].lower().replace("’", "'").removesuffix("'s")
        if parts[0] in a.terms or low.endswith(("an", "ese", "ish", "ern")):
            return False  # demonyms and "Western" describe, they do not act
        if low in PLACE_WORDS or parts[0] in PLACE_TERMS:
            # A state acting or owning ("Pyongyang denies ...", "Ukraine's intelligence")
            # answers "who"; "with Moscow" does not.
            return tokens[0].endswith(("'s", "’s")) or _acts(after)
        return True
    if any(p not in a.terms and p not in PLACE_TERMS for p in parts):
        return True
    # A state or bloc can be the answer ("the United States ... has poured billions").
    return not set(parts) <= set(a.terms) and _acts(after)


# "Ukraine’s military intelligence", "Pyongyang denies", "The West, primarily ..., has poured".
_ACTS_RE = re.compile(
    r"(?:['’]s\s+[a-z]|\s*(?:,[^,]{0,60},)?\s*(?:has |have |had |is |are |was |were |will |would )?"
    r"[a-z]+(?:s|ed)\b)"
)


def _acts(after: str) -> bool:
    """Whether the words after a place name make it the actor (or owner) in the sentence."""
    return bool(_ACTS_RE.match(after))


def _new_name(a: QuestionAnalysis, name: str) -> bool:
    """A name that tells the asker something: not just words already in the question."""
    terms = {canonical(w) for w in words(name) if w.lower() not in STOPWORDS}
    return bool(terms) and not terms <= set(a.terms)
