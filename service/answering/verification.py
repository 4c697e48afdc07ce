"""Turning a parsed generator reply into verified citations and supported sentences.

Rules (the answer never presents unverified text as sourced):

* a quote for a source number that was not retrieved is dropped, and so is a marker naming it;
* a quote that cannot be found in its source is dropped (invented or misattributed);
* a sentence that cites a source without quoting it gets the source sentence that best matches it
  as its quote, if one does; a sentence with no usable quote or marker (plain prose, a quote split
  across sources, a wrong source number) is attributed to the evidence sentence of any retrieved
  source that supports it by the same rules (``Citation.origin == "attributed"``), or dropped;
* a sentence is supported only if it has at least one located quote, shares content words with its
  quotes, every number in it appears in those quotes and every proper name in them or in the
  cited passages; unsupported sentences are
  kept in ``sentences`` with ``supported=False`` and no citations, and left out of the answer text;
* if no supported sentence remains, the answer abstains.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from index.text.sentences import split_sentences
from index.text.words import STOPWORDS, term, words
from service.answering.citations import locate_quote
from service.answering.evidence import (
    Draft,
    DraftSentence,
    Quote,
    Source,
    looks_like_instruction,
    replace_markers,
)
from service.answering.types import AnswerSentence, Citation

logger = logging.getLogger(__name__)

_NUMBER_RE = re.compile(r"\d[\d,.]*\d|\d")
_MIN_AUTO_QUOTE_OVERLAP = 0.5
# A misquoted passage is recognised when its sentence has this share of the quote's words.
_MIN_QUOTE_SENTENCE_OVERLAP = 0.8


@dataclass(frozen=True)
class VerifiedAnswer:
    """The checked answer: text with renumbered markers, its citations and its sentences."""

    answer: str
    abstained: bool
    abstain_reason: str | None
    citations: tuple[Citation, ...]
    sentences: tuple[AnswerSentence, ...]
    dropped_quotes: int = 0


@dataclass(frozen=True)
class _Span:
    source: Source
    start: int  # offsets into the document's original text
    end: int
    quote: str
    origin: str = "model"
    # Found by searching for text the generator wrote (an LLM's quote), not at offsets it gave.
    searched: bool = False


def numbers_in(text: str) -> set[str]:
    """Numbers of ``text`` with thousands separators removed ("10,000" -> "10000")."""
    return {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER_RE.finditer(text)}


def names_in(text: str) -> list[str]:
    """Capitalised words after the first word: proper names, roughly."""
    return [
        w
        for w in words(text)[1:]
        if w[0].isupper() and w.lower() not in STOPWORDS and len(w.rstrip(".")) >= 2
    ]


def _content(text: str) -> set[str]:
    return {term(w) for w in words(text) if w.lower() not in STOPWORDS and len(w) > 2}


def _name_supported(name: str, quote_terms: set[str], quote_words: set[str]) -> bool:
    if term(name) in quote_terms:
        return True
    low = name.lower().replace("’", "'")
    # Transliterations and inflections: "Zelensky" ~ "Zelenskyy", "Koreans" ~ "Korean".
    return len(low) >= 5 and any(w[:5] == low[:5] for w in quote_words)


def verify_output(
    parsed: Draft, sources: Sequence[Source], documents: Mapping[str, str]
) -> VerifiedAnswer:
    """Checks ``parsed`` against the retrieved ``sources`` (``documents``: doc id -> text)."""
    if parsed.abstained:
        reason = parsed.reason or "the sources do not answer the question"
        return VerifiedAnswer("", True, reason, (), ())
    verifier = SentenceVerifier(sources, documents)
    verifier.add_quotes(parsed.quotes)
    for sentence in parsed.sentences:
        verifier.add_sentence(sentence)
    return verifier.result()


@dataclass(frozen=True)
class VerifiedSentence:
    """One sentence as the verifier judged it: rendered with renumbered markers (``None`` when
    unsupported) and the citations it introduced."""

    sentence: AnswerSentence
    rendered: str | None
    new_citations: tuple[Citation, ...]


class SentenceVerifier:
    """Verifies a draft sentence by sentence, so a stream can show each one once it is checked.

    Quotes are located first (``add_quotes``); each sentence (``add_sentence``) is backed by the
    located quotes of the sources it names, else by the evidence sentence that supports it
    (``origin="attributed"``), else it is unsupported and never rendered. Citation ids are
    numbered in order of first use across the whole answer.
    """

    def __init__(self, sources: Sequence[Source], documents: Mapping[str, str]) -> None:
        self.sources = tuple(sources)
        self.documents = documents
        self.by_n = {s.n: s for s in sources}
        self.located: dict[int, list[_Span]] = {}
        self.elsewhere: list[_Span] = []  # model quotes found in another source than named
        self.dropped = 0
        self._unlocated: list[Quote] = []
        self._ids: dict[tuple[str, int, int], int] = {}
        self.citations: list[Citation] = []
        self.sentences: list[AnswerSentence] = []
        self.rendered: list[str] = []

    def add_quotes(self, quotes: Sequence[Quote]) -> None:
        for quote in quotes:
            n = quote.n
            span = _locate(self.by_n.get(n), quote, self.documents)
            if span is None:
                moved = self._locate_elsewhere(quote)
                if moved is None:
                    self.dropped += 1
                    self._unlocated.append(quote)
                    logger.info("dropped quote for source [%d]: not found in the sources", n)
                elif all(_key(s) != _key(moved) for s in self.elsewhere):
                    self.elsewhere.append(moved)
                continue
            if all((s.start, s.end) != (span.start, span.end) for s in self.located.get(n, [])):
                self.located.setdefault(n, []).append(span)

    def _locate_elsewhere(self, quote: Quote) -> _Span | None:
        for src in self.sources:
            if src.n != quote.n:
                span = _locate(src, Quote(src.n, quote.text), self.documents)
                if span is not None:
                    return _Span(span.source, span.start, span.end, span.quote, "attributed")
        return None

    def add_sentence(self, sentence: DraftSentence) -> VerifiedSentence:
        spans = _spans_for(sentence, self.by_n, self.located, self.documents)
        if any(s.searched for s in spans) and (
            _overlap(_content(sentence.text), " ".join(s.quote for s in spans))
            < _MIN_AUTO_QUOTE_OVERLAP
        ):
            # An LLM's quote often comes from a sentence next to the one it paraphrases: its
            # quotes back the claim only if they hold at least half of the claim's content words.
            spans = []
        if not spans or not _supports(sentence.text, spans):
            spans = self._attribute(sentence)
        elif any(s.searched for s in spans):
            spans = spans + self._better_evidence(sentence, spans)
        if not spans:
            judged = AnswerSentence(text=sentence.text, citations=(), supported=False)
            self.sentences.append(judged)
            return VerifiedSentence(judged, None, ())
        cids: list[int] = []
        by_source: dict[int, list[int]] = {}
        new: list[Citation] = []
        for span in spans:
            key = _key(span)
            if key not in self._ids:
                self._ids[key] = len(self.citations) + 1
                citation = Citation(
                    id=self._ids[key],
                    doc_id=span.source.doc_id,
                    chunk_id=span.source.chunk_id,
                    title=span.source.title,
                    quote=span.quote,
                    start=span.start,
                    end=span.end,
                    origin=span.origin,
                )
                self.citations.append(citation)
                new.append(citation)
            if self._ids[key] not in cids:
                cids.append(self._ids[key])
            by_source.setdefault(span.source.n, []).append(self._ids[key])
        judged = AnswerSentence(text=sentence.text, citations=tuple(cids))
        self.sentences.append(judged)
        attributed = any(s.origin == "attributed" for s in spans)
        # Attributed evidence may come from another source than the markers named: the markers
        # are then rewritten from the citations, never kept.
        text = _render(replace(sentence, raw="") if attributed else sentence, by_source, cids)
        self.rendered.append(text)
        return VerifiedSentence(judged, text, tuple(new))

    def _attribute(self, sentence: DraftSentence) -> list[_Span]:
        """The evidence for a sentence without a usable quote: of the model's quotes found in
        another source, the sentences its misquotes came from, and every source sentence, the
        one holding most of the claim's content words (at least half) that supports it."""
        terms = _content(sentence.text)
        if not terms:
            return []
        candidates: list[tuple[int, _Span]] = [(0, s) for s in self.elsewhere]
        # A quote that is not verbatim (a typo, words run together) still says which source
        # sentence the model read.
        for quote in self._unlocated:
            closest = self._closest_sentence(quote)
            if closest is not None:
                candidates.append((0, closest))
        for src in self.sources:
            candidates.extend(
                (src.n, span) for span in _auto_quote(sentence.text, src, self.documents)
            )
        best: tuple[float, int, _Span] | None = None
        for rank, span in candidates:
            score = _overlap(terms, span.quote)
            if score < _MIN_AUTO_QUOTE_OVERLAP or not _supports(sentence.text, [span]):
                continue
            if best is None or score > best[0] or (score == best[0] and rank < best[1]):
                best = (score, rank, span)
        return [best[2]] if best else []

    def _better_evidence(self, sentence: DraftSentence, spans: list[_Span]) -> list[_Span]:
        """The evidence sentence that supports an LLM's sentence better than the sentence it
        quoted (more of the claim's words), cited beside it; none if the quote is the best."""
        terms = _content(sentence.text)
        have = max(_overlap(terms, s.quote) for s in spans)
        best = self._attribute(sentence)
        if (
            best
            and _key(best[0]) not in {_key(s) for s in spans}
            and _overlap(terms, best[0].quote) > have
        ):
            return best
        return []

    def _closest_sentence(self, quote: Quote) -> _Span | None:
        """The source sentence sharing most of the quote's content words (at least
        ``_MIN_QUOTE_SENTENCE_OVERLAP`` of them), in the source it names first."""
        terms = _content(quote.text)
        if len(terms) < 3:
            return None
        named = [s for s in self.sources if s.n == quote.n]
        best: tuple[float, _Span] | None = None
        for src in named + [s for s in self.sources if s.n != quote.n]:
            for start, end in split_sentences(src.text):
                score = _overlap(terms, src.text[start:end])
                if score >= _MIN_QUOTE_SENTENCE_OVERLAP and (best is None or score > best[0]):
                    span = _locate(
                        src, Quote(src.n, src.text[start:end], (start, end)), self.documents
                    )
                    if span is not None:
                        best = (
                            score,
                            _Span(span.source, span.start, span.end, span.quote, "attributed"),
                        )
        return best[1] if best else None

    def result(self) -> VerifiedAnswer:
        if not self.rendered:
            unsupported = sum(1 for s in self.sentences if not s.supported)
            reason = (
                f"none of the model's {unsupported} sentence(s) could be verified against a "
                "quote from the retrieved sources"
            )
            return VerifiedAnswer("", True, reason, (), tuple(self.sentences), self.dropped)
        return VerifiedAnswer(
            answer=" ".join(self.rendered),
            abstained=False,
            abstain_reason=None,
            citations=tuple(self.citations),
            sentences=tuple(self.sentences),
            dropped_quotes=self.dropped,
        )


def _key(span: _Span) -> tuple[str, int, int]:
    return (span.source.doc_id, span.start, span.end)


def _overlap(terms: set[str], text: str) -> float:
    return len(terms & _content(text)) / len(terms) if terms else 0.0


def _locate(src: Source | None, quote: Quote, documents: Mapping[str, str]) -> _Span | None:
    if src is None:
        return None
    # A generator that knows the offsets gives them; they are checked, and searched for otherwise.
    found = quote.span
    searched = False
    if found is None or not 0 <= found[0] < found[1] or src.text[found[0] : found[1]] != quote.text:
        searched = True
        found = locate_quote(quote.text, src.text)
        if found is not None:
            # A model's quote may be a few words (short quotes are cheap to generate); the
            # citation is the whole source sentence(s) it stands in, still verbatim.
            found = _whole_sentences(src.text, found)
    if found is None:
        return None
    if _in_instruction(src.text, found):
        logger.warning("dropped a quote from an instruction-like passage in %s", src.doc_id)
        return None
    start, end = src.start + found[0], src.start + found[1]
    original = documents.get(src.doc_id)
    text = src.text[found[0] : found[1]]
    if original is not None and original[start:end] != text:
        logger.warning("chunk %s does not match its document text; quote dropped", src.chunk_id)
        return None
    return _Span(source=src, start=start, end=end, quote=text, searched=searched)


def _whole_sentences(text: str, span: tuple[int, int]) -> tuple[int, int]:
    inside = [(s, e) for s, e in split_sentences(text) if s < span[1] and e > span[0]]
    if not inside:
        return span
    return min(inside[0][0], span[0]), max(inside[-1][1], span[1])


def _in_instruction(text: str, span: tuple[int, int]) -> bool:
    """Whether the sentences around ``span`` address an AI system (an injection attempt)."""
    return any(
        looks_like_instruction(text[s:e])
        for s, e in split_sentences(text)
        if s < span[1] and e > span[0]
    )


def _spans_for(
    sentence: DraftSentence,
    by_n: Mapping[int, Source],
    located: Mapping[int, list[_Span]],
    documents: Mapping[str, str],
) -> list[_Span]:
    """The quotes backing ``sentence``: those of its sources that share words with it."""
    sent_terms = _content(sentence.text)
    sent_numbers = numbers_in(sentence.text)
    chosen: list[_Span] = []
    for n in sentence.markers:
        src = by_n.get(n)
        if src is None:
            continue
        spans = located.get(n) or _auto_quote(sentence.text, src, documents)
        relevant = [
            s for s in spans if _content(s.quote) & sent_terms or numbers_in(s.quote) & sent_numbers
        ]
        chosen.extend(relevant)
    return chosen


def _auto_quote(text: str, src: Source, documents: Mapping[str, str]) -> list[_Span]:
    """For a marker without a quote: the source sentence that best matches the answer sentence."""
    terms = _content(text)
    numbers = numbers_in(text)
    if not terms:
        return []
    best: tuple[float, int, int] | None = None
    for s, e in split_sentences(src.text):
        piece = src.text[s:e]
        if not numbers <= numbers_in(piece):
            continue
        overlap = len(terms & _content(piece)) / len(terms)
        if overlap >= _MIN_AUTO_QUOTE_OVERLAP and (best is None or overlap > best[0]):
            best = (overlap, s, e)
    if best is None:
        return []
    span = _locate(src, Quote(src.n, src.text[best[1] : best[2]], (best[1], best[2])), documents)
    return [_Span(span.source, span.start, span.end, span.quote, "attributed")] if span else []


def _supports(text: str, spans: Sequence[_Span]) -> bool:
    quotes = " ".join(s.quote for s in spans)
    if not _content(text) & _content(quotes):
        return False
    if not numbers_in(text) <= numbers_in(quotes):
        return False
    # Names may come from the rest of the cited passage ("..., per South Korean intelligence [1]"
    # quoting only the figure): the claim is still traceable to the passage the marker names.
    passages = quotes + " " + " ".join(s.source.text for s in spans)
    passage_terms = {term(w) for w in words(passages)}
    passage_words = {w.lower().replace("’", "'") for w in words(passages)}
    return all(_name_supported(n, passage_terms, passage_words) for n in names_in(text))


def _render(sentence: DraftSentence, by_source: dict[int, list[int]], cids: Sequence[int]) -> str:
    """The sentence with its markers renumbered to citation ids, where the generator put them."""
    if sentence.raw:
        return replace_markers(sentence.raw, by_source)
    markers = "".join(f"[{c}]" for c in cids)
    body = sentence.text.rstrip()
    if body[-1:] in ".!?":
        return f"{body[:-1]} {markers}{body[-1]}"
    return f"{body} {markers}"
