"""Sources in the prompt, the generator's output format, and locating quotes in their sources.

The prompt shows each retrieved chunk as a numbered block::

    <source id=1 doc="004_114b" title="Zelenskyy reveals clashes">
    ...chunk text...
    </source>

Anything in the text that looks like one of our delimiters is neutralised (``<`` becomes ``‹``) so
a document cannot close its block early or open a fake one. Generators (an LLM or the extractive
provider) answer in this plain-text format, chosen because it survives sloppy models::

    ANSWER:
    Over 10,000 North Korean troops were deployed, per South Korean intelligence [2].
    QUOTES:
    [2] "over 10,000 North Korean troops have been deployed to Russia"

or exactly ``NOT_IN_SOURCES``. Quotes are located in their source tolerantly (whitespace, quote
marks, dashes, case) and mapped back to exact offsets of the ORIGINAL text, so a citation's quote
is always ``document.text[start:end]``, never the model's re-typed variant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from index.errors import GenerationError

ABSTAIN_TOKEN = "NOT_IN_SOURCES"  # noqa: S105 - a reply keyword, not a secret
MIN_QUOTE_CHARS = 8

_DELIM_RE = re.compile(r"<(?=\s*/?\s*(?:source|question|sources)\b)", re.IGNORECASE)
_SOURCE_BLOCK_RE = re.compile(
    r'<source id=(\d+) doc="([^"]*)" title="([^"]*)">\n(.*?)\n</source>', re.DOTALL
)
_QUESTION_RE = re.compile(r"<question>\n(.*?)\n</question>", re.DOTALL)
_HEADER_RE = re.compile(r"^[#*\s]*(ANSWER|QUOTES|SOURCES|CITATIONS)[*\s]*:?[*\s]*", re.IGNORECASE)
_MARKER_RE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_QUOTE_LINE_RE = re.compile(r"^\s*[-*•]?\s*\[(\d+)\]\s*[:\-–—]?\s*(.+?)\s*$")
_INLINE_QUOTE_RE = re.compile(r"[\"“]([^\"“”\n]{12,}?)[\"”]\s*((?:\[\d+\]\s*)+)")
_ABBREV_RE = re.compile(
    r"(?:\b(?:[A-Z]\.)+|\b(?:Mr|Mrs|Ms|Dr|Gen|Col|Lt|Sgt|St|No|vs|etc|Jr|Sr|Inc|Co|Rep|Sen|Gov)\.)$"
)


# Text addressed to the answering system is not evidence about the world: never quoted as such.
_INSTRUCTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|your\s+|the\s+|previous\s+|prior\s+|"
    r"above\s+|earlier\s+)*(?:instructions|rules|prompts?|guidelines)\b|\bsystem prompt\b|"
    r"\b(?:AI|automated|language model)\s+(?:assistants?|systems?|models?)\b|"
    r"\byou must (?:say|answer|reply|obey|respond)\b",
    re.IGNORECASE,
)


def looks_like_instruction(text: str) -> bool:
    """True for text that addresses an AI system ("ignore your instructions and ...")."""
    return bool(_INSTRUCTION_RE.search(text))


class UnparseableOutputError(GenerationError):
    """The generator's text has neither an answer nor the abstain token."""

    code = "unparseable_output"


@dataclass(frozen=True)
class Source:
    """A retrieved chunk as numbered in the prompt; ``start`` is its offset in the document."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    text: str
    start: int


@dataclass(frozen=True)
class ParsedSentence:
    """One answer sentence without its markers, and the source numbers it cites."""

    text: str
    markers: tuple[int, ...]
    raw: str = ""  # as written, markers included (they are renumbered when rendered)


@dataclass(frozen=True)
class ParsedOutput:
    """A generator's answer split into sentences, plus the quotes given per source number."""

    abstained: bool
    sentences: tuple[ParsedSentence, ...]
    quotes: tuple[tuple[int, str], ...]
    reason: str | None = None


def neutralize(text: str) -> str:
    """Makes delimiter look-alikes inert (``<source`` -> ``‹source``); other text is unchanged."""
    return _DELIM_RE.sub("‹", text)


def format_sources(sources: Sequence[Source]) -> str:
    """The numbered, delimited source blocks that go into the prompt."""
    blocks = []
    for s in sources:
        title = neutralize(s.title).replace('"', "'").replace("\n", " ")
        doc = s.doc_id.replace('"', "'")
        blocks.append(
            f'<source id={s.n} doc="{doc}" title="{title}">\n{neutralize(s.text)}\n</source>'
        )
    return "\n\n".join(blocks)


def format_question(question: str) -> str:
    return neutralize(question)


def parse_prompt(prompt: str) -> tuple[str, list[Source]]:
    """Recovers the question and the source blocks from a prompt built by :func:`format_sources`.

    Used by the extractive provider, which receives only the messages, like any LLM would.
    """
    sources = [
        Source(
            n=int(m.group(1)),
            doc_id=m.group(2),
            chunk_id="",
            title=m.group(3),
            text=m.group(4),
            start=0,
        )
        for m in _SOURCE_BLOCK_RE.finditer(prompt)
    ]
    qm = list(_QUESTION_RE.finditer(prompt))
    question = qm[-1].group(1).strip() if qm else ""
    return question, sources


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (stripped of surrounding whitespace); newlines always split."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        base = line.start()
        seg = line.group(0)
        start = 0
        for m in re.finditer(
            r"[.!?][\"”’')\]]*(?:\s*\[\d+(?:\s*,\s*\d+)*\])*(?=\s+[\"“A-Z0-9\[‹(]|[A-Z][a-z])", seg
        ):
            if _ABBREV_RE.search(seg[: m.start() + 1]):
                continue
            _add_span(spans, text, base + start, base + m.end())
            start = m.end()
        _add_span(spans, text, base + start, base + len(seg))
    return spans


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def parse_output(text: str) -> ParsedOutput:
    """Parses the ANSWER/QUOTES format; raises :class:`UnparseableOutputError` on nothing usable."""
    raw = text.strip()
    if not raw:
        raise UnparseableOutputError("the model returned an empty answer")
    if raw.startswith(ABSTAIN_TOKEN):
        reason = raw[len(ABSTAIN_TOKEN) :].strip(" :-\n") or None
        return ParsedOutput(abstained=True, sentences=(), quotes=(), reason=reason)
    answer_lines: list[str] = []
    quote_lines: list[str] = []
    section = "answer"
    for line in raw.splitlines():
        header = _HEADER_RE.match(line)
        if header and header.group(0).rstrip().endswith(":"):
            section = "answer" if header.group(1).upper() == "ANSWER" else "quotes"
            line = line[header.end() :]
        if not line.strip():
            continue
        if section == "answer" and _QUOTE_LINE_RE.match(line) and _looks_quoted(line):
            section = "quotes"  # a model that forgot the QUOTES header
        (answer_lines if section == "answer" else quote_lines).append(line)
    body = " ".join(line.strip() for line in answer_lines).strip()
    quotes: list[tuple[int, str]] = []
    for line in quote_lines:
        m = _QUOTE_LINE_RE.match(line)
        if m:
            quote = _strip_quote_marks(m.group(2))
            if quote:
                quotes.append((int(m.group(1)), quote))
    for m in _INLINE_QUOTE_RE.finditer(body):
        for n in _marker_numbers(m.group(2)):
            quotes.append((n, m.group(1).strip()))
    if not body or body.strip(" .\"'") == ABSTAIN_TOKEN or (ABSTAIN_TOKEN in body and not quotes):
        if ABSTAIN_TOKEN in raw:
            return ParsedOutput(abstained=True, sentences=(), quotes=())
        raise UnparseableOutputError("the model's reply has no answer text")
    sentences = []
    for s, e in split_sentences(body):
        piece = body[s:e]
        markers = _marker_numbers(piece)
        clean = " ".join(_MARKER_RE.sub(" ", piece).split())
        clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
        if clean.strip(" .") and clean != ABSTAIN_TOKEN:
            raw_piece = " ".join(piece.split())
            sentences.append(ParsedSentence(text=clean, markers=markers, raw=raw_piece))
    if not sentences:
        raise UnparseableOutputError("the model's reply has no sentences")
    return ParsedOutput(abstained=False, sentences=tuple(sentences), quotes=tuple(quotes))


def _looks_quoted(line: str) -> bool:
    rest = _MARKER_RE.sub("", line, count=1).strip(" :-")
    return rest[:1] in "\"“'‘"


def replace_markers(text: str, mapping: dict[int, list[int]]) -> str:
    """Rewrites ``[n]`` / ``[n, m]`` markers through ``mapping``; unmapped numbers disappear."""

    def sub(m: re.Match[str]) -> str:
        new: list[int] = []
        for part in re.split(r"[,;]", m.group(1)):
            for c in mapping.get(int(part.strip()), []):
                if c not in new:
                    new.append(c)
        return "".join(f"[{c}]" for c in new)

    out = _MARKER_RE.sub(sub, text)
    out = re.sub(r"\s+([.,;:!?])", r"\1", out)
    return " ".join(out.split())


def _marker_numbers(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for m in _MARKER_RE.finditer(text):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part.strip())
            if n not in out:
                out.append(n)
    return tuple(out)


def _strip_quote_marks(text: str) -> str:
    t = text.strip()
    pairs = {'"': '"', "“": "”", "'": "'", "‘": "’", "”": "”"}
    if len(t) >= 2 and t[0] in pairs and t[-1] in ('"', "”", "'", "’"):
        t = t[1:-1]
    elif t[:1] in pairs:
        t = t[1:]
    return t.strip()


_CHAR_MAP = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "‛": "'",
        "′": "'",
        "`": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "″": '"',
        "–": "-",
        "—": "-",
        "‑": "-",
        "‒": "-",
        "−": "-",
        "‹": "<",
        "›": ">",
        "\u00a0": " ",
    }
)


def _normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Lowercased, unified punctuation, single spaces; ``index[i]`` = original offset of char i."""
    out: list[str] = []
    index: list[int] = []
    prev_space = True
    for i, ch in enumerate(text):
        if ch.isspace():
            if not prev_space:
                out.append(" ")
                index.append(i)
            prev_space = True
            continue
        prev_space = False
        out.append(ch.translate(_CHAR_MAP).lower())
        index.append(i)
    if out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


def locate_quote(quote: str, text: str) -> tuple[int, int] | None:
    """Span of ``quote`` in ``text``, tolerant to whitespace, quote marks, dashes and case.

    Returns offsets into ``text`` such that ``text[start:end]`` is the original wording, or
    ``None`` when the quote is not there (an invented or misattributed quote).
    """
    parts = re.split(r"\s*(?:\.\.\.|…|\[\.\.\.\])\s*", quote)
    candidate = max(parts, key=len).strip()
    norm_text, index = _normalize_with_map(text)
    for variant in (candidate, candidate.rstrip(".,;:!?"), candidate.strip(".,;:!?\"'“”‘’ ")):
        norm_quote, _ = _normalize_with_map(variant)
        if len(norm_quote) < MIN_QUOTE_CHARS:
            continue
        pos = norm_text.find(norm_quote)
        if pos >= 0:
            return index[pos], index[pos + len(norm_quote) - 1] + 1
    return None
