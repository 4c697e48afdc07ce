"""The extractive generator: picks source sentences that answer the question and quotes them.

It needs no model and no network. It reads the same prompt an LLM gets (question + numbered source
blocks, see :mod:`service.citations`) and replies in the same ANSWER/QUOTES format, so one parser
and one verifier handle every generator.

Scoring, per candidate sentence of the retrieved chunks:

* coverage: IDF-weighted share of the question's content terms the sentence contains (terms folded
  through stemming and synonym groups); the noun being asked about and names weigh more;
* answer type: a "how many" wants a quantity in a sentence about the counted noun, a "when" a
  date, a "who" a name the question does not already contain, a "where" a place, a "why" a cause;
* retrieval rank: a small bonus for better-ranked chunks.

It abstains when the thing asked for appears in no retrieved text: the counted noun ("how many
tanks" over a corpus without tanks), a name standing alone ("Japan's"), a number, the role a
who-question asks about ("which commander"), or what a count question says happened ("captured").
An abstract category word ("what protection ...") is forgiven when one sentence holds the rest
of the question. It also abstains when no sentence covers enough of the question, or when the
wanted answer type (date, name, cause, figure) is absent. For quantities it gathers evidence from
every retrieved document and reports differing figures side by side with their attribution.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from service.citations import (
    ABSTAIN_TOKEN,
    Source,
    looks_like_instruction,
    parse_prompt,
    split_sentences,
)
from service.conflicts import attribution, citation_value
from service.question import (
    STOPWORDS,
    QuestionAnalysis,
    analyze_question,
    canonical,
    words,
    wordset,
)

logger = logging.getLogger(__name__)

MIN_COVERAGE = 0.4
MIN_COUNT_COVERAGE = 0.45
# Further documents' figures join the first one's at a lower bar: the counted noun and a figure
# are required anyway, and leaving out a differing figure would hide a conflict.
MIN_EXTRA_COUNT_COVERAGE = 0.3
MAX_QUOTE_CHARS = 260
_TYPE_BONUS = 0.25
_EXPLICIT_DATE_BONUS = 0.1
ABSENT_TERM_WEIGHT = 0.3
# Share of the question's names (North Korea, NATO, Zelenskyy...) an answer sentence must contain.
MIN_NAME_SHARE = 0.5
RARE_NAME_SHARE = 0.3
# A missing category word ("what protection ...") is forgiven only for questions that say this much.
MIN_OTHER_TERMS = 3
# Abstract nouns ("protection", "reputation") name a kind of answer and are often paraphrased;
# concrete ones ("brigade", "tanks") name the thing asked for.
_ABSTRACT_RE = re.compile(r"(?:tion|sion|ment|ity|ness|ance|ence|ship|ism|ure|ing|ure|ent|y)$")
# "Which country ...": the answer is an instance of these, the word itself need not appear.
_CATEGORY_HEADS = frozenset(
    canonical(w)
    for w in wordset(
        """
        country nation region city town place organisation organization group agency person
        people official leader month year day date state government body institution side party
        alliance issue problem matter aspect factor topic development event step move action
        """
    )
)
_PLACE_WORDS = wordset(
    """
    north south korea russia ukraine western european america united states middle east asia
    europe peninsula china japan india iran israel syria
    """
)
_PLACE_TERMS = frozenset(canonical(w) for w in _PLACE_WORDS)
_TIME_UNITS = frozenset(canonical(w) for w in wordset("year month day date time week season"))

_DATE_RE = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b(?:\s+\d{1,2})?(?:,?\s+(?:19|20)\d\d)?|\b(?:19|20)\d\d\b|"
    r"\b(?:earlier|later|last|this|next) (?:this )?(?:year|month|week|spring|summer|autumn|fall|"
    r"winter)\b|"
    # "enters its second year": a point in time counted from a start.
    r"\b(?:first|second|third|fourth|fifth|sixth|\d+(?:st|nd|rd|th)) (?:year|month|week|day)\b",
)
# A calendar date or year says more than "earlier this year".
_EXPLICIT_DATE_RE = re.compile(
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


@dataclass(frozen=True)
class _Candidate:
    source: Source
    start: int
    end: int
    terms: frozenset[str]

    @property
    def text(self) -> str:
        return self.source.text[self.start : self.end]


@dataclass(frozen=True)
class _Scored:
    cand: _Candidate
    coverage: float
    has_type: bool
    score: float


def extractive_reply(prompt: str) -> str:
    """The extractive generator's reply to a prompt built by the pipeline."""
    question, sources = parse_prompt(prompt)
    if not question:
        return f"{ABSTAIN_TOKEN}: no question found in the prompt"
    return ExtractiveAnswerer().reply(question, sources)


class ExtractiveAnswerer:
    """Question-type aware sentence selection; replies in the ANSWER/QUOTES format."""

    def __init__(
        self,
        min_coverage: float = MIN_COVERAGE,
        min_count_coverage: float = MIN_COUNT_COVERAGE,
        max_sentences: int = 2,
    ) -> None:
        self.min_coverage = min_coverage
        self.min_count_coverage = min_count_coverage
        self.max_sentences = max_sentences

    def reply(self, question: str, sources: Sequence[Source]) -> str:
        analysis = analyze_question(question)
        if not sources:
            return f"{ABSTAIN_TOKEN}: nothing was retrieved"
        if not analysis.terms:
            return f"{ABSTAIN_TOKEN}: the question has no content words to look for"
        cands = _candidates(sources)
        vocab: set[str] = set()
        name_vocab: set[str] = set()
        for c in cands:
            vocab |= c.terms
            name_vocab |= {canonical(w) for w in words(c.text) if w[0].isupper()}
        missing = _missing_key_terms(analysis, vocab, name_vocab)
        if (
            missing == [analysis.head]
            and _ABSTRACT_RE.search(analysis.head or "")
            and _covered_without(analysis, cands, analysis.head)
        ):
            # "What protection did Ukraine request ...": the category word is a paraphrase when
            # one sentence holds everything else the question says.
            missing = []
        if missing:
            shown = ", ".join(_surface(question, t) for t in missing)
            return f"{ABSTAIN_TOKEN}: the retrieved passages do not mention {shown}"
        absent = [t for t in analysis.terms if not _has(t, vocab)]
        if len(absent) * 2 > len(analysis.terms):
            # Most of what the question talks about appears nowhere in the passages.
            shown = ", ".join(_surface(question, t) for t in absent)
            return f"{ABSTAIN_TOKEN}: the retrieved passages do not mention {shown}"
        scored = self._score(analysis, cands)
        if analysis.qtype == "count":
            unknown = _unknown_predicates(analysis, vocab)
            if unknown:
                # "How many soldiers were captured": nothing retrieved says any were.
                shown = ", ".join(_surface(question, t) for t in unknown)
                return f"{ABSTAIN_TOKEN}: the retrieved passages do not mention {shown}"
            return self._count_reply(analysis, scored, _rare_predicates(analysis, cands))
        return self._general_reply(analysis, scored)

    def _score(self, a: QuestionAnalysis, cands: Sequence[_Candidate]) -> list[_Scored]:
        n = max(len(cands), 1)
        df = {t: sum(1 for c in cands if _has(t, c.terms)) for t in a.terms}
        names = set(a.names)
        weights: dict[str, float] = {}
        for t in a.terms:
            idf = math.log(1.0 + n / (1.0 + df[t]))
            boost = 2.0 if t in (a.focus, a.head) else 1.5 if t in names else 1.0
            if t == a.head and t in _CATEGORY_HEADS:
                boost = ABSENT_TERM_WEIGHT  # "which country": the answer names one instead
            if a.qtype == "when" and t in _TIME_UNITS:
                boost = ABSENT_TERM_WEIGHT  # "in what month and year": the answer gives a date
            if t == a.role:
                boost = ABSENT_TERM_WEIGHT  # "which leaders signed": the answer names them
            if df[t] == 0:
                # A word no passage uses is mostly a paraphrase ("leads" for "Secretary-General");
                # key words that are absent already made the answer abstain.
                boost *= ABSENT_TERM_WEIGHT
            weights[t] = idf * boost
        total = sum(weights.values()) or 1.0
        # Names most passages share (the corpus's topic, e.g. "North Korea") do not discriminate;
        # rarer ones ("NATO", "United States") must be in the answer sentence.
        rare = {t for t in names if 0 < df[t] <= RARE_NAME_SHARE * n}
        if a.qtype == "count":
            rare = set()  # figures are checked against the counted noun and its modifiers
        out = []
        for c in cands:
            if rare and len(rare & c.terms) < MIN_NAME_SHARE * len(rare):
                continue  # a sentence about other people or places
            cov = sum(w for t, w in weights.items() if _has(t, c.terms)) / total
            has_type = _has_answer_type(a, c)
            text = c.text.rstrip()
            penalty = 0.0
            if text.endswith("?"):
                penalty += 0.3  # a question in the source does not answer one
            elif not text.endswith((".", "!", '"', "”", "’", ")")):
                penalty += 0.15  # headings and fragments
            if has_type and a.qtype == "when" and _EXPLICIT_DATE_RE.search(text):
                penalty -= _EXPLICIT_DATE_BONUS
            score = cov + (_TYPE_BONUS if has_type else 0.0) + 0.08 / c.source.n - penalty
            out.append(_Scored(cand=c, coverage=cov, has_type=has_type, score=score))
        out.sort(key=lambda s: s.score, reverse=True)
        return out

    def _count_reply(
        self, a: QuestionAnalysis, scored: Sequence[_Scored], predicates: frozenset[str]
    ) -> str:
        best_per_doc: dict[str, _Scored] = {}
        for s in scored:
            # "How many were killed": a figure for troops that were merely sent does not answer.
            hits = sum(1 for t in predicates if _has(t, s.cand.terms))
            if predicates and hits * 2 < len(predicates):
                continue
            if s.has_type and s.coverage >= MIN_EXTRA_COUNT_COVERAGE:
                best_per_doc.setdefault(s.cand.source.doc_id, s)
        chosen = sorted(best_per_doc.values(), key=lambda s: s.score, reverse=True)[:4]
        if not chosen or chosen[0].coverage < self.min_count_coverage:
            what = a.focus or "the thing asked about"
            return f"{ABSTAIN_TOKEN}: no source gives a figure for {what}"
        quotes = [(s.cand.source.n, _quote(a, s.cand)) for s in chosen]
        values = [(n, citation_value(q, a.focus), attribution(q)) for n, q in quotes]
        distinct = {keys for _, (_, keys), _ in values if keys}
        if len(chosen) >= 2 and len(distinct) >= 2:
            parts = []
            for n, (phrase, _), who in values:
                parts.append(f"{phrase} per {who} [{n}]" if who else f"{phrase} [{n}]")
            sentence = "The sources give different figures: " + "; ".join(parts) + "."
            return _format([sentence], quotes)
        n, q = quotes[0]
        return _format([_as_sentence(q, n)], [quotes[0]])

    def _general_reply(self, a: QuestionAnalysis, scored: Sequence[_Scored]) -> str:
        need_type = a.qtype in ("when", "who", "why")
        ok = [
            s for s in scored if s.coverage >= self.min_coverage and (s.has_type or not need_type)
        ]
        if not ok:
            best = scored[0].coverage if scored else 0.0
            logger.debug("extractive: best coverage %.2f below threshold", best)
            return f"{ABSTAIN_TOKEN}: no retrieved passage answers the question"
        chosen = [ok[0]]
        for s in ok[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if s.score >= 0.9 * ok[0].score and all(
                s.cand.source.doc_id != c.cand.source.doc_id for c in chosen
            ):
                chosen.append(s)
        quotes = [(s.cand.source.n, _quote(a, s.cand)) for s in chosen]
        return _format([_as_sentence(q, n) for n, q in quotes], quotes)


def _candidates(sources: Sequence[Source]) -> list[_Candidate]:
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
            terms = _with_prefixes([*(canonical(w) for w in words(text)), *inherited])
            out.append(_Candidate(source=src, start=start, end=end, terms=terms))
    return out


_PRONOUN_START_RE = re.compile(r"\s*(?:He|She|They|His|Her|Their)\b")


_PREFIX = 6


def _with_prefixes(terms: Iterable[str]) -> frozenset[str]:
    """Terms plus "~prefix" keys, so "parliament" meets "parliamentary" (see :func:`_has`)."""
    out = set()
    for t in terms:
        out.add(t)
        if len(t) >= _PREFIX:
            out.add("~" + t[:_PREFIX])
    return frozenset(out)


def _has(term: str, terms: AbstractSet[str]) -> bool:
    return term in terms or (len(term) >= _PREFIX and "~" + term[:_PREFIX] in terms)


def _rare_predicates(a: QuestionAnalysis, cands: Sequence[_Candidate]) -> frozenset[str]:
    """What a count question says happened to the counted things ("killed", "captured"),
    when few passages say it: the figure's sentence must say it too."""
    n = max(len(cands), 1)
    skip = {a.focus, *a.modifiers, *a.names, *_EPISTEMIC}
    out = set()
    for t in a.predicates:
        if t in skip:
            continue
        df = sum(1 for c in cands if _has(t, c.terms))
        if 0 < df <= RARE_NAME_SHARE * n:
            out.add(t)
    return frozenset(out)


def _missing_key_terms(a: QuestionAnalysis, vocab: set[str], name_vocab: set[str]) -> list[str]:
    """Key terms (focus noun, numbers, names) that no retrieved sentence contains.

    Names must appear capitalised ("New Year" is not matched by "new" and "year").
    """
    missing: list[str] = []
    if a.focus and not _has(a.focus, vocab):
        missing.append(a.focus)
    if a.head and not _has(a.head, vocab) and a.head not in _CATEGORY_HEADS:
        missing.append(a.head)
    if a.role and not _has(a.role, vocab):
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


def _covered_without(a: QuestionAnalysis, cands: Sequence[_Candidate], skip: str | None) -> bool:
    """Whether one sentence holds every other content term of the question but at most one."""
    others = [t for t in a.terms if t != skip]
    if len(others) < MIN_OTHER_TERMS:
        return False  # "what is the population of X": too little else to go on
    return any(sum(1 for t in others if not _has(t, c.terms)) <= 1 for c in cands)


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


def _unknown_predicates(a: QuestionAnalysis, vocab: AbstractSet[str]) -> list[str]:
    """What the question says happened to the counted things, when no passage says it."""
    skip = {a.focus, *a.modifiers, *a.names}
    return [
        t
        for t in a.predicates
        if t not in skip and t not in _EPISTEMIC and len(t) > 3 and not _has(t, vocab)
    ]


def _surface(question: str, term: str) -> str:
    """The question's own word for a canonical term ("tanks" for "tank")."""
    for w in words(question):
        if canonical(w) == term:
            return f'"{w}"'
    return f'"{term}"'


def _has_answer_type(a: QuestionAnalysis, c: _Candidate) -> bool:
    text = c.text
    if a.qtype != "count" and _is_heading(text):
        return False  # a headline states a topic, it does not name who, when or why
    if a.qtype == "count":
        return bool(citation_value(text, a.focus)[1]) and _modifiers_match(a, text)
    if a.qtype == "when":
        return bool(_DATE_RE.search(text))
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


def _is_heading(text: str) -> bool:
    """A title line: no closing punctuation and mostly capitalised words."""
    body = text.rstrip()
    if body.endswith((".", "!", '"', "”", ")")):
        return False
    ws = [w for w in words(body) if w.lower() not in STOPWORDS]
    return bool(ws) and sum(1 for w in ws if w[0].isupper()) * 2 > len(ws)


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
        if low in _PLACE_WORDS or parts[0] in _PLACE_TERMS:
            # A state acting or owning ("Pyongyang denies ...", "Ukraine's intelligence")
            # answers "who"; "with Moscow" does not.
            return tokens[0].endswith(("'s", "’s")) or _acts(after)
        return True
    if any(p not in a.terms and p not in _PLACE_TERMS for p in parts):
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


def _quote(a: QuestionAnalysis, c: _Candidate) -> str:
    """The sentence, or for a long one the clauses around its best-matching clause (verbatim)."""
    text = c.text
    if len(text) <= MAX_QUOTE_CHARS:
        return text
    cuts = [0] + [m.end() for m in re.finditer(r"[,;:—–]\s+|\s+[—–-]\s+", text)] + [len(text)]
    clauses = [(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1) if cuts[i + 1] > cuts[i]]
    qterms = set(a.terms)

    def clause_score(span: tuple[int, int]) -> float:
        piece = text[span[0] : span[1]]
        terms = {canonical(w) for w in words(piece)}
        bonus = 1.0 if a.qtype == "count" and citation_value(piece, a.focus)[1] else 0.0
        return len(terms & qterms) + bonus

    best = max(range(len(clauses)), key=lambda i: clause_score(clauses[i]))
    lo = hi = best
    while True:
        grown = False
        for cand_lo, cand_hi in ((lo, hi + 1), (lo - 1, hi)):
            fits = cand_lo >= 0 and cand_hi < len(clauses)
            if fits and clauses[cand_hi][1] - clauses[cand_lo][0] <= MAX_QUOTE_CHARS:
                lo, hi = cand_lo, cand_hi
                grown = True
                break
        if not grown:
            break
    piece = text[clauses[lo][0] : clauses[hi][1]]
    return piece.strip().rstrip(",;:—–- ")


def _as_sentence(quote: str, n: int) -> str:
    body = quote.strip()
    if body[-1:] in ".!?":
        body = body[:-1]
    if body[:1].islower():
        body = body[0].upper() + body[1:]
    return f"{body} [{n}]."


def _format(sentences: Sequence[str], quotes: Sequence[tuple[int, str]]) -> str:
    lines = ["ANSWER:", " ".join(sentences), "QUOTES:"]
    lines += [f'[{n}] "{q}"' for n, q in quotes]
    return "\n".join(lines)
