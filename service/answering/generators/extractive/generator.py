"""The extractive generator: picks source sentences that answer the question and quotes them.

It needs no model and no network. It works on typed values: the numbered sources with their
offsets in, a :class:`Draft` whose quotes carry their exact offsets out; the verifier checks it
like any generator's draft.

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
from collections.abc import Sequence
from dataclasses import dataclass

from index.text.words import words
from service.answering.conflicts import attribution, citation_value
from service.answering.evidence import Draft, Quote, Source, draft_sentence
from service.answering.generators.extractive.answer_types import (
    EXPLICIT_DATE_RE,
    has_answer_type,
)
from service.answering.generators.extractive.terms import (
    ABSTRACT_RE,
    CATEGORY_HEADS,
    RARE_NAME_SHARE,
    Candidate,
    candidates,
    covered_without,
    has,
    missing_key_terms,
    rare_predicates,
    surface,
    unknown_predicates,
)
from service.answering.generators.protocol import EXTRACTIVE_MODEL, Generation, GenerationRequest
from service.answering.question import QuestionAnalysis, canonical, wordset

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
_TIME_UNITS = frozenset(canonical(w) for w in wordset("year month day date time week season"))


@dataclass(frozen=True)
class _Scored:
    cand: Candidate
    coverage: float
    has_type: bool
    score: float


class ExtractiveGenerator:
    """The default generator: question-type aware sentence selection, no model, no network."""

    def __init__(
        self,
        min_coverage: float = MIN_COVERAGE,
        min_count_coverage: float = MIN_COUNT_COVERAGE,
        max_sentences: int = 2,
    ) -> None:
        self.min_coverage = min_coverage
        self.min_count_coverage = min_count_coverage
        self.max_sentences = max_sentences

    @property
    def model(self) -> str:
        return EXTRACTIVE_MODEL

    def generate(self, request: GenerationRequest) -> Generation:
        draft = self.draft(request.question, request.analysis, request.sources)
        return Generation(draft=draft, model=EXTRACTIVE_MODEL)

    def draft(self, question: str, analysis: QuestionAnalysis, sources: Sequence[Source]) -> Draft:
        """Picks and quotes the sentences answering ``question``, or abstains saying why."""
        if not sources:
            return _abstain("nothing was retrieved")
        if not analysis.terms:
            return _abstain("the question has no content words to look for")
        cands = candidates(sources)
        vocab: set[str] = set()
        name_vocab: set[str] = set()
        for c in cands:
            vocab |= c.terms
            name_vocab |= {canonical(w) for w in words(c.text) if w[0].isupper()}
        missing = missing_key_terms(analysis, vocab, name_vocab)
        if (
            missing == [analysis.head]
            and ABSTRACT_RE.search(surface(question, analysis.head or "").strip('"'))
            and covered_without(analysis, cands, analysis.head)
        ):
            # "What protection did Ukraine request ...": the category word is a paraphrase when
            # one sentence holds everything else the question says.
            missing = []
        if missing:
            shown = ", ".join(surface(question, t) for t in missing)
            return _abstain(f"the retrieved passages do not mention {shown}")
        absent = [t for t in analysis.terms if not has(t, vocab)]
        if len(absent) * 2 > len(analysis.terms):
            # Most of what the question talks about appears nowhere in the passages.
            shown = ", ".join(surface(question, t) for t in absent)
            return _abstain(f"the retrieved passages do not mention {shown}")
        scored = self._score(analysis, cands)
        if analysis.qtype == "count":
            unknown = unknown_predicates(analysis, vocab)
            if unknown:
                # "How many soldiers were captured": nothing retrieved says any were.
                shown = ", ".join(surface(question, t) for t in unknown)
                return _abstain(f"the retrieved passages do not mention {shown}")
            return self._count_reply(analysis, scored, rare_predicates(analysis, cands))
        return self._general_reply(analysis, scored)

    def _score(self, a: QuestionAnalysis, cands: Sequence[Candidate]) -> list[_Scored]:
        n = max(len(cands), 1)
        df = {t: sum(1 for c in cands if has(t, c.terms)) for t in a.terms}
        names = set(a.names)
        weights: dict[str, float] = {}
        for t in a.terms:
            idf = math.log(1.0 + n / (1.0 + df[t]))
            boost = 2.0 if t in (a.focus, a.head) else 1.5 if t in names else 1.0
            if t == a.head and t in CATEGORY_HEADS:
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
            cov = sum(w for t, w in weights.items() if has(t, c.terms)) / total
            has_type = has_answer_type(a, c)
            text = c.text.rstrip()
            penalty = 0.0
            if text.endswith("?"):
                penalty += 0.3  # a question in the source does not answer one
            elif not text.endswith((".", "!", '"', "”", "’", ")")):
                penalty += 0.15  # headings and fragments
            if has_type and a.qtype == "when" and EXPLICIT_DATE_RE.search(text):
                penalty -= _EXPLICIT_DATE_BONUS
            score = cov + (_TYPE_BONUS if has_type else 0.0) + 0.08 / c.source.n - penalty
            out.append(_Scored(cand=c, coverage=cov, has_type=has_type, score=score))
        out.sort(key=lambda s: s.score, reverse=True)
        return out

    def _count_reply(
        self, a: QuestionAnalysis, scored: Sequence[_Scored], predicates: frozenset[str]
    ) -> Draft:
        best_per_doc: dict[str, _Scored] = {}
        for s in scored:
            # "How many were killed": a figure for troops that were merely sent does not answer.
            hits = sum(1 for t in predicates if has(t, s.cand.terms))
            if predicates and hits * 2 < len(predicates):
                continue
            if s.has_type and s.coverage >= MIN_EXTRA_COUNT_COVERAGE:
                best_per_doc.setdefault(s.cand.source.doc_id, s)
        chosen = sorted(best_per_doc.values(), key=lambda s: s.score, reverse=True)[:4]
        if not chosen or chosen[0].coverage < self.min_count_coverage:
            what = a.focus or "the thing asked about"
            return _abstain(f"no source gives a figure for {what}")
        quotes = [(s.cand, _quote(a, s.cand)) for s in chosen]
        values = [(c.source.n, citation_value(q, a.focus), attribution(q)) for c, q in quotes]
        distinct = {keys for _, (_, keys), _ in values if keys}
        if len(chosen) >= 2 and len(distinct) >= 2:
            parts = []
            for n, (phrase, _), who in values:
                parts.append(f"{phrase} per {who} [{n}]" if who else f"{phrase} [{n}]")
            sentence = "The sources give different figures: " + "; ".join(parts) + "."
            return _format([sentence], quotes)
        c, q = quotes[0]
        return _format([_as_sentence(q, c.source.n)], [quotes[0]])

    def _general_reply(self, a: QuestionAnalysis, scored: Sequence[_Scored]) -> Draft:
        need_type = a.qtype in ("when", "who", "why")
        ok = [
            s for s in scored if s.coverage >= self.min_coverage and (s.has_type or not need_type)
        ]
        if not ok:
            best = scored[0].coverage if scored else 0.0
            logger.debug("extractive: best coverage %.2f below threshold", best)
            return _abstain("no retrieved passage answers the question")
        chosen = [ok[0]]
        for s in ok[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if s.score >= 0.9 * ok[0].score and all(
                s.cand.source.doc_id != c.cand.source.doc_id for c in chosen
            ):
                chosen.append(s)
        quotes = [(s.cand, _quote(a, s.cand)) for s in chosen]
        return _format([_as_sentence(q, c.source.n) for c, q in quotes], quotes)


def _quote(a: QuestionAnalysis, c: Candidate) -> str:
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


def _format(sentences: Sequence[str], quotes: Sequence[tuple[Candidate, str]]) -> Draft:
    """The draft: sentences with their markers, and each quote with its offsets in its source."""
    out = []
    for cand, quote in quotes:
        at = cand.start + cand.text.find(quote)
        out.append(Quote(cand.source.n, quote, (at, at + len(quote))))
    return Draft(
        abstained=False,
        sentences=tuple(draft_sentence(s) for s in sentences),
        quotes=tuple(out),
    )


def _abstain(reason: str) -> Draft:
    return Draft(abstained=True, sentences=(), quotes=(), reason=reason)
