"""Turning a parsed generator reply into verified citations and supported sentences.

Rules (the answer never presents unverified text as sourced):

* a quote for a source number that was not retrieved is dropped, and so is a marker naming it;
* a quote that cannot be found in its source is dropped (invented or misattributed);
* a sentence that cites a source without quoting it gets the source sentence that best matches it
  as its quote, if one does;
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
from dataclasses import dataclass

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
    by_n = {s.n: s for s in sources}
    located: dict[int, list[_Span]] = {}
    dropped = 0
    for quote in parsed.quotes:
        n = quote.n
        span = _locate(by_n.get(n), quote, documents)
        if span is None:
            dropped += 1
            logger.info("dropped quote for source [%d]: not found in that source", n)
            continue
        if all((s.start, s.end) != (span.start, span.end) for s in located.get(n, [])):
            located.setdefault(n, []).append(span)

    ids: dict[tuple[str, int, int], int] = {}
    citations: list[Citation] = []
    out_sentences: list[AnswerSentence] = []
    rendered: list[str] = []
    for sentence in parsed.sentences:
        spans = _spans_for(sentence, by_n, located, documents)
        if not spans or not _supports(sentence.text, spans):
            out_sentences.append(AnswerSentence(text=sentence.text, citations=(), supported=False))
            continue
        cids: list[int] = []
        by_source: dict[int, list[int]] = {}
        for span in spans:
            key = (span.source.doc_id, span.start, span.end)
            if key not in ids:
                ids[key] = len(citations) + 1
                citations.append(
                    Citation(
                        id=ids[key],
                        doc_id=span.source.doc_id,
                        chunk_id=span.source.chunk_id,
                        title=span.source.title,
                        quote=span.quote,
                        start=span.start,
                        end=span.end,
                    )
                )
            if ids[key] not in cids:
                cids.append(ids[key])
            by_source.setdefault(span.source.n, []).append(ids[key])
        out_sentences.append(AnswerSentence(text=sentence.text, citations=tuple(cids)))
        rendered.append(_render(sentence, by_source, cids))
    if not rendered:
        unsupported = sum(1 for s in out_sentences if not s.supported)
        reason = (
            f"none of the model's {unsupported} sentence(s) could be verified against a quote "
            "from the retrieved sources"
        )
        return VerifiedAnswer("", True, reason, (), tuple(out_sentences), dropped)
    return VerifiedAnswer(
        answer=" ".join(rendered),
        abstained=False,
        abstain_reason=None,
        citations=tuple(citations),
        sentences=tuple(out_sentences),
        dropped_quotes=dropped,
    )


def _locate(src: Source | None, quote: Quote, documents: Mapping[str, str]) -> _Span | None:
    if src is None:
        return None
    # A generator that knows the offsets gives them; they are checked, and searched for otherwise.
    found = quote.span
    if found is None or not 0 <= found[0] < found[1] or src.text[found[0] : found[1]] != quote.text:
        found = locate_quote(quote.text, src.text)
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
    return _Span(source=src, start=start, end=end, quote=text)


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
    return [span] if span else []


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
