"""Conversations: earlier turns, and turning a follow-up into a standalone retrieval query.

``RuleRewriter`` is deterministic and needs no model: it resolves pronouns ("When was it
signed?"), ellipsis ("And the highest?", "When?"), "what about X?" and "and the other one?"
against the noun phrases of the previous question and the names of its answer, using only English
grammar (pronoun classes, determiners, the question analysis of :mod:`.question`). A question
that stands alone is returned as ``None`` (not rewritten). Earlier follow-ups are first made
standalone themselves, so a chain of turns keeps its topic.

Example::

    history = [Turn("Who signed the mutual defense pact?", "Kim Jong Un and Vladimir Putin [1].")]
    RuleRewriter().rewrite("When was it signed?", history)
    # 'When was the mutual defense pact signed?'

With an LLM configured, :class:`FallbackRewriter` asks it first (``LiteLLMRewriter``) and uses
the rules when it fails. Earlier answers only shape the query: citations always point at
documents.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from index.errors import GenerationError
from index.text.tokens import Token, tokenize
from service.answering.phrases import (
    PERSON_PRONOUNS,
    PLURAL_PRONOUNS,
    POSSESSIVES,
    THING_PRONOUNS,
    Phrase,
    names_in,
    phrases,
)
from service.answering.question import analyse_question
from service.answering.types import Citation

logger = logging.getLogger(__name__)

_MARKER_RE = re.compile(r"\s*\[\d+\]")
# Openers of an elliptical follow-up: "what about X?", "and X?", "how about X?".
_ELLIPSIS_RE = re.compile(
    r"^\s*(?:and\s+)?(?:what|how)\s+about\s+|^\s*and\s+(?:what\s+of\s+)?|^\s*what\s+of\s+",
    re.IGNORECASE,
)
_OTHER_RE = re.compile(r"\bthe\s+other(?:\s+one)?\b|\bthe\s+others\b", re.IGNORECASE)
_WH = frozenset(["who", "whom", "whose", "when", "where", "why", "how", "which", "what"])
# "that"/"this" standing for a whole event ("When did that happen?").
_EVENT_VERBS = frozenset(["happen", "happened", "occur", "occurred", "start", "end", "begin"])


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, oldest first in a history."""

    question: str
    answer: str
    citations: tuple[Citation, ...] = ()


class QuestionRewriter(Protocol):
    """Turns a follow-up into a standalone query; ``None`` when it already stands alone."""

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None: ...


class RuleRewriter:
    """The deterministic rewriter (no model; a few microseconds per question)."""

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        if not history:
            return None
        previous = standalone_history(history)
        return rewrite_follow_up(question, previous[-1])


class FallbackRewriter:
    """``primary`` (an LLM) first; on a ``GenerationError`` the deterministic ``fallback``."""

    def __init__(self, primary: QuestionRewriter, fallback: QuestionRewriter) -> None:
        self.primary = primary
        self.fallback = fallback

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        if not history:
            return None
        try:
            return self.primary.rewrite(question, history)
        except GenerationError as exc:
            logger.warning("LLM question rewriting failed, using the rules: %s", exc)
            return self.fallback.rewrite(question, history)


def standalone_history(history: Sequence[Turn]) -> list[Turn]:
    """Each earlier question made standalone in turn (each against the one before)."""
    out: list[Turn] = []
    for turn in history:
        if out:
            rewritten = rewrite_follow_up(turn.question, out[-1])
            if rewritten:
                turn = Turn(rewritten, turn.answer, turn.citations)
        out.append(turn)
    return out


def answer_text(answer: str) -> str:
    """The first sentence of an earlier answer, without its ``[n]`` markers."""
    plain = _MARKER_RE.sub("", answer).strip()
    cut = re.search(r"(?<=[.!?])\s", plain)
    return plain[: cut.start()] if cut else plain


def rewrite_follow_up(question: str, previous: Turn) -> str | None:
    """``question`` made standalone against ``previous`` (a standalone turn), or ``None``."""
    q = " ".join(question.split())
    if not q:
        return None
    prev_q = " ".join(previous.question.split())
    context = _Context(prev_q, previous.answer)
    for attempt in (_other_one, _what_about, _bare_wh, _pronouns):
        out = attempt(q, context)
        if out is not None:
            out = " ".join(out.split())
            return out if out.casefold() != q.casefold() else None
    return None


class _Context:
    """The previous question's phrases and what its answer names, computed once."""

    def __init__(self, question: str, answer: str) -> None:
        self.question = question
        self.info = analyse_question(question)
        self.phrases = phrases(question)
        prev_terms = {t for p in self.phrases for t in p.terms}
        first = answer_text(answer)
        rest = _MARKER_RE.sub("", answer)
        self.answer_names = [
            p
            for p in names_in(first)
            if not set(p.terms) <= prev_terms
            # "Journalism [1]. ... the profession of journalism": capitalised only because it
            # opens the sentence; a name is never written in lower case.
            and not (p.first and " " not in p.text and _written_lower(p.text, rest))
        ]

    def topic(self) -> Phrase | None:
        """The thing the previous question was about (what "it" points at): a common noun
        phrase opened by a determiner or preposition, or the noun the wh-word asked about."""

        asks_person = self.info.wants == "person"

        def wh_head(p: Phrase) -> bool:
            return p.lead in ("what", "which") and not asks_person

        def score(p: Phrase) -> float:
            marked = p.definite or wh_head(p)
            return 2.0 * marked + 0.5 * (not p.capitalised) - 2.0 * p.plural + p.weight

        return _best(self.phrases, score, allow=wh_head)

    @property
    def answer_names_first(self) -> bool:
        """The previous question asked for a who/which/what/where: its answer holds the
        referent of "he", "she", "there"."""
        return self.info.qtype in ("who", "which", "what", "where") and bool(self.answer_names)

    def person(self) -> str | None:
        if self.answer_names_first:
            return self.answer_names[0].text
        named = [p for p in self.phrases if p.capitalised]
        return named[0].text if named else None

    def group(self) -> str | None:
        if self.info.wants == "person" and len(self.answer_names) >= 2:
            return f"{self.answer_names[0].text} and {self.answer_names[1].text}"
        plural = sorted((p for p in self.phrases if p.plural), key=lambda p: not p.definite)
        if plural:
            return plural[0].surface()
        topic = self.topic()
        return topic.surface() if topic else None

    def place(self) -> str | None:
        if self.answer_names_first and self.info.wants in ("place", "entity"):
            return self.answer_names[0].text
        named = [p for p in self.phrases if p.capitalised]
        placed = [p for p in named if p.lead in ("in", "to", "from", "at", "near", "of")]
        chosen = placed or named
        return chosen[-1].text if chosen else None


def _written_lower(word: str, text: str) -> bool:
    return re.search(rf"\b{re.escape(word.lower())}\b", text) is not None


def _best(
    candidates: Sequence[Phrase],
    score: Callable[[Phrase], float],
    allow: Callable[[Phrase], bool] = lambda p: False,
) -> Phrase | None:
    scored = [(score(p), -i, p) for i, p in enumerate(candidates)]
    usable = [s for s in scored if s[2].definite or s[2].capitalised or allow(s[2])]
    if not usable:
        return None
    return max(usable, key=lambda s: (s[0], s[1]))[2]


def _splice(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    out, last = [], 0
    for start, end, repl in sorted(spans):
        out.append(text[last:start])
        out.append(repl)
        last = end
    out.append(text[last:])
    return "".join(out)


def _content(tokens: Sequence[Token]) -> list[Token]:
    return [t for t in tokens if t.term]


def _other_one(q: str, ctx: _Context) -> str | None:
    """ "And the other one?": the previous question with its two names swapped, or the name of
    the pair it did not ask about."""
    m = _OTHER_RE.search(q)
    if m is None:
        return None
    named = [p for p in ctx.phrases if p.capitalised]
    rest = _ELLIPSIS_RE.sub("", q[m.end() :]).strip(" ,?.!")
    if rest:
        # "And the other one, from Britain?": the phrase of the same kind is replaced by "Britain".
        return _replace_like(ctx, rest) or None
    if len(named) >= 2:
        a, b = named[0], named[1]
        return _splice(ctx.question, [(a.start, a.end, b.text), (b.start, b.end, a.text)])
    if ctx.answer_names and named:
        other = next((n for n in ctx.answer_names if n.text != named[0].text), None)
        if other is not None:
            return _splice(ctx.question, [(named[0].start, named[0].end, other.text)])
    return None


def _replace_like(ctx: _Context, new: str) -> str | None:
    """The previous question with the phrase most like ``new`` (a name for a name, else its
    topic) replaced by ``new``."""
    new_phrases = phrases(new)
    capital = any(p.capitalised for p in new_phrases) or new[:1].isupper()
    same = [p for p in ctx.phrases if p.capitalised == capital and (p.definite or p.capitalised)]
    target = same[-1] if same else ctx.topic()
    if target is None or len(new_phrases) != 1 or len(new_phrases[0].terms) > 3:
        # Not one like-for-like phrase ("the lowest figure from U.S. sources"): ask both.
        return f"{ctx.question.rstrip('?. ')}, {new}?"
    return _splice(ctx.question, [(target.start, target.end, new_phrases[0].text)])


def _what_about(q: str, ctx: _Context) -> str | None:
    """ "What about X?" / "And X?": the previous question asked of X instead."""
    m = _ELLIPSIS_RE.match(q)
    if m is None:
        return None
    rest = q[m.end() :].strip(" ?.!")
    rest_tokens = tokenize(rest)
    if not rest or any(t.low in _WH for t in rest_tokens[:1]):
        return None  # "And when was it signed?": an ordinary question after "and"
    head, _, tail = rest.partition(",")
    tail_tokens = tokenize(tail)
    if tail and any(t.low in _WH for t in tail_tokens[:2]):
        # "What about North Korea, what does it gain?": the tail is the question, X its topic.
        return _pronouns(tail.strip(), ctx, forced=head.strip()) or tail.strip()
    info = analyse_question(rest)
    if info.qtype != "other":
        return None
    return _replace_like(ctx, rest)


_AUX = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "be",
        "been",
    ]
)


def _bare_wh(q: str, ctx: _Context) -> str | None:
    """ "When?", "And where?", "On which holiday?": a wh-phrase with no verb of its own, asked
    with the previous question's body."""
    tokens = tokenize(q)
    words = [t for t in tokens if t.is_word and t.low != "and"]
    wh_at = next((i for i, t in enumerate(words) if t.low in _WH), -1)
    if not words or wh_at < 0 or wh_at > 1 or len(words) > 4:
        return None
    if any(t.low in _AUX for t in words) or (_content(tokens) and len(words) > 3):
        return None
    if any(t.low in THING_PRONOUNS | PERSON_PRONOUNS | PLURAL_PRONOUNS for t in words):
        return None
    asked = " ".join(t.text for t in words)
    prev_tokens = tokenize(ctx.question)
    body_start = next(
        (t.start for t in prev_tokens if t.is_word and t.low not in _WH),
        len(ctx.question),
    )
    return f"{asked} {ctx.question[body_start:]}"


def _pronouns(q: str, ctx: _Context, forced: str | None = None) -> str | None:
    """Pronouns with no antecedent in ``q`` itself, replaced by the previous turn's phrases."""
    tokens = tokenize(q)
    own = phrases(q, tokens)
    spans: list[tuple[int, int, str]] = []
    skip_to = -1
    for k, tok in enumerate(tokens):
        if k <= skip_to:
            continue
        low = tok.low
        before = [p for p in own if p.end <= tok.start]
        the_led = [p for p in before if p.lead in ("the", "a", "an")]
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        target: str | None = None
        end = tok.end
        if low in THING_PRONOUNS:
            if low == "its" and any(p.capitalised for p in before):
                continue  # "Ukraine needs from its allies"
            if any(not p.capitalised and not p.plural for p in the_led):
                continue  # "the pact ... when was it signed?"
            topic = ctx.topic()
            target = forced or (topic.surface() if topic else None)
            if low == "its" and ctx.info.qtype == "who" and ctx.answer_names and not forced:
                target = ctx.answer_names[0].text  # "Who ...?" "What have its ...": the agent
        elif low in PERSON_PRONOUNS:
            if any(p.capitalised for p in before):
                continue
            if low == "her" and not (nxt is not None and nxt.term):
                low = "him"  # object "her", not possessive
            target = forced or ctx.person()
        elif low in PLURAL_PRONOUNS:
            if any(p.plural for p in the_led) or sum(p.capitalised for p in before) >= 2:
                continue  # "When did Kim and Putin sign their agreement?"
            target = forced or ctx.group()
        elif low in ("that", "this", "these", "those") and nxt is not None and nxt.term:
            # "that word" after "the word imperialism": the earlier, fuller phrase.
            match = next((p for p in ctx.phrases if nxt.term in p.terms), None)
            if match is None or len(match.terms) < 2:
                continue
            target, end, skip_to = match.surface(), nxt.end, k + 1
        elif low == "there" and not _expletive_there(tokens, k):
            target = ctx.place()
            if target is not None:
                target = f"in {target}" if k > 0 and tokens[k - 1].low != "in" else target
        elif low in ("that", "this") and _stands_alone(nxt):
            topic = ctx.topic()
            target = topic.surface() if topic else None
        if target is None:
            continue
        if low in POSSESSIVES and not target.endswith(("'s", "’s")):
            target = f"{target}'s"
        spans.append((tok.start, end, target))
    if not spans:
        return None
    return _splice(q, spans)


def _expletive_there(tokens: Sequence[Token], k: int) -> bool:
    """ "Is there ...", "there are ...": not a place."""
    be = ("is", "are", "was", "were", "be", "been")
    nxt = tokens[k + 1].low if k + 1 < len(tokens) else ""
    prev = tokens[k - 1].low if k > 0 else ""
    return nxt in be or prev in be


def _stands_alone(nxt: Token | None) -> bool:
    """ "that" as a pronoun: followed by punctuation, a verb of happening, or nothing."""
    return nxt is None or not nxt.is_word or nxt.low in _EVENT_VERBS
