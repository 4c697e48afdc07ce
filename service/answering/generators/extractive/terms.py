"""Candidate sentences of the sources, and the question terms they contain or lack."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from index.text.sentences import split_sentences
from index.text.words import STOPWORDS, words
from service.answering.evidence import Source, looks_like_instruction
from service.answering.question import QuestionAnalysis, canonical, wordset

RARE_NAME_SHARE = 0.3
# A missing category word ("what protection ...") is forgiven only for questions that say this much.
MIN_OTHER_TERMS = 3
# Abstract nouns ("protection", "reputation") name a kind of answer and are often paraphrased;
# concrete ones ("brigade", "tanks") name the thing asked for.
ABSTRACT_RE = re.compile(r"(?:tion|sion|ment|ity|ness|ance|ence|ship|ism|ure|ing|ure|ent|y)$")
# "Which country ...": the answer is an instance of these, the word itself need not appear.
CATEGORY_HEADS = frozenset(
    canonical(w)
    for w in wordset(
        """
        country nation region city town place organisation organization group agency person
        people official leader month year day date state government body institution side party
        alliance issue problem matter aspect factor topic development event step move action
        """
    )
)


@dataclass(frozen=True)
class Candidate:
    source: Source
    start: int
    end: int
    terms: frozenset[str]

    @property
    def text(self) -> str:
        return self.source.text[self.start : self.end]


def candidates(sources: Sequence[Source]) -> list[Candidate]:
    """Sentences of every source; a sentence repeated by overlapping chunks is kept once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for src in sorted(sources, key=lambda s: s.n):
        previous_names: list[str] = []
        for start, end in split_sentences(src.text):
            text = src.text[start:end]
            names = [canonical(w) for w in words(text) if w[0].isupper()][1:]
            # "He underscored the need ...": the pronoun stands for the previous sentence's people.
            inherited = previous_names if _PRONOUN_START_RE.match(text) else []
            previous_names = names or previous_names
            key = (src.doc_id, " ".join(text.split()).lower())
            if key in seen or len(words(text)) < 4 or looks_like_instruction(text):
                continue
            seen.add(key)
            terms = with_prefixes([*(canonical(w) for w in words(text)), *inherited])
            out.append(Candidate(source=src, start=start, end=end, terms=terms))
    return out


_PRONOUN_START_RE = re.compile(r"\s*(?:He|She|They|His|Her|Their)\b")


_PREFIX = 6


def with_prefixes(terms: Iterable[str]) -> frozenset[str]:
    """Terms plus "~prefix" keys, so "parliament" meets "parliamentary" (see :func:`has`)."""
    out = set()
    for t in terms:
        out.add(t)
        if len(t) >= _PREFIX:
            out.add("~" + t[:_PREFIX])
    return frozenset(out)


def has(term: str, terms: AbstractSet[str]) -> bool:
    return term in terms or (len(term) >= _PREFIX and "~" + term[:_PREFIX] in terms)


def rare_predicates(a: QuestionAnalysis, cands: Sequence[Candidate]) -> frozenset[str]:
    """What a count question says happened to the counted things ("killed", "captured"),
    when few passages say it: the figure's sentence must say it too."""
    n = max(len(cands), 1)
    skip = {a.focus, *a.modifiers, *a.names, *_EPISTEMIC}
    out = set()
    for t in a.predicates:
        if t in skip:
            continue
        df = sum(1 for c in cands if has(t, c.terms))
        if 0 < df <= RARE_NAME_SHARE * n:
            out.add(t)
    return frozenset(out)


def missing_key_terms(a: QuestionAnalysis, vocab: set[str], name_vocab: set[str]) -> list[str]:
    """Key terms (focus noun, numbers, names) that no retrieved sentence contains.

    Names must appear capitalised ("New Year" is not matched by "new" and "year").
    """
    missing: list[str] = []
    if a.focus and not has(a.focus, vocab):
        missing.append(a.focus)
    if a.head and not has(a.head, vocab) and a.head not in CATEGORY_HEADS:
        missing.append(a.head)
    if a.role and not has(a.role, vocab):
        missing.append(a.role)  # "who is the commander ...": no passage names any commander
    missing += [n for n in a.numbers if n not in vocab]
    # An unknown part of a longer name is tolerated ("Kim Jong Un" where the text writes
    # "Kim Jong-un" or leaves out a first name); a name standing alone ("Japan's") is not.
    for run in _name_runs(a.text):
        if any(t in name_vocab for t in run):
            continue
        missing += [t for t in run if t in a.names and t not in missing]
    return missing


def _name_runs(question: str) -> list[list[str]]:
    """Canonical terms of consecutive capitalised words of the question ("Kim Jong Un")."""
    runs: list[list[str]] = []
    current: list[str] = []
    for i, w in enumerate(words(question)):
        low = w.lower()
        is_name = w[0].isupper() and not (i == 0 and (low in STOPWORDS or low in _STARTERS))
        if is_name and low not in STOPWORDS:
            current.append(canonical(w))
            continue
        if current:
            runs.append(current)
        current = []
    if current:
        runs.append(current)
    return runs


_STARTERS = wordset("what who whom whose when where why how which tell give list name")


def covered_without(a: QuestionAnalysis, cands: Sequence[Candidate], skip: str | None) -> bool:
    """Whether one sentence holds every other content term of the question but at most one."""
    others = [t for t in a.terms if t != skip]
    if len(others) < MIN_OTHER_TERMS:
        return False  # "what is the population of X": too little else to go on
    return any(sum(1 for t in others if not has(t, c.terms)) <= 1 for c in cands)


# Verbs of reporting or belief say how a figure is known, not what happened to the things counted.
_EPISTEMIC = frozenset(
    canonical(w)
    for w in wordset(
        """
        believed thought said reported estimated expected feared rumored rumoured suspected
        claimed understood known considered alleged assumed presumed seen supposed set going able
        likely
        """
    )
)


def unknown_predicates(a: QuestionAnalysis, vocab: AbstractSet[str]) -> list[str]:
    """What the question says happened to the counted things, when no passage says it."""
    skip = {a.focus, *a.modifiers, *a.names}
    return [
        t
        for t in a.predicates
        if t not in skip and t not in _EPISTEMIC and len(t) > 3 and not has(t, vocab)
    ]


def surface(question: str, term: str) -> str:
    """The question's own word for a canonical term ("tanks" for "tank")."""
    for w in words(question):
        if canonical(w) == term:
            return f'"{w}"'
    return f'"{term}"'
