"""How an LLM sees the evidence, and how its reply is read back into a :class:`Draft`.

The prompt shows each retrieved chunk as a numbered block::

    <source id=1 doc="004_114b" title="Zelenskyy reveals clashes">
    ...chunk text...
    </source>

Anything in the text that looks like one of our delimiters is neutralised (``<`` becomes ``‹``) so
a document cannot close its block early or open a fake one. The model answers in this plain-text
format, chosen because it survives sloppy models::

    ANSWER:
    Over 10,000 North Korean troops were deployed, per South Korean intelligence [2].
    QUOTES:
    [2] "over 10,000 North Korean troops have been deployed to Russia"

or exactly ``NOT_IN_SOURCES``. The verifier then locates each quote in its source
(:mod:`service.answering.citations`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from index.errors import GenerationError
from index.text.sentences import split_sentences
from service.answering.evidence import (
    MARKER_RE,
    Draft,
    Quote,
    Source,
    draft_sentence,
    marker_numbers,
)

ABSTAIN_TOKEN = "NOT_IN_SOURCES"  # noqa: S105 - a reply keyword, not a secret

_DELIM_RE = re.compile(r"<(?=\s*/?\s*(?:source|question|sources)\b)", re.IGNORECASE)
_HEADER_RE = re.compile(r"^[#*\s]*(ANSWER|QUOTES|SOURCES|CITATIONS)[*\s]*:?[*\s]*", re.IGNORECASE)
_QUOTE_LINE_RE = re.compile(r"^\s*[-*•]?\s*\[(\d+)\]\s*[:\-–—]?\s*(.+?)\s*$")
_INLINE_QUOTE_RE = re.compile(r"[\"“]([^\"“”\n]{12,}?)[\"”]\s*((?:\[\d+\]\s*)+)")


class UnparseableOutputError(GenerationError):
    """The generator's text has neither an answer nor the abstain token."""

    code = "unparseable_output"


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


def parse_output(text: str) -> Draft:
    """Parses the ANSWER/QUOTES format; raises :class:`UnparseableOutputError` on nothing usable."""
    raw = text.strip()
    if not raw:
        raise UnparseableOutputError("the model returned an empty answer")
    if raw.startswith(ABSTAIN_TOKEN):
        reason = raw[len(ABSTAIN_TOKEN) :].strip(" :-\n") or None
        return Draft(abstained=True, sentences=(), quotes=(), reason=reason)
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
    quotes: list[Quote] = []
    for line in quote_lines:
        m = _QUOTE_LINE_RE.match(line)
        if m:
            quote = _strip_quote_marks(m.group(2))
            if quote:
                quotes.append(Quote(int(m.group(1)), quote))
    for m in _INLINE_QUOTE_RE.finditer(body):
        for n in marker_numbers(m.group(2)):
            quotes.append(Quote(n, m.group(1).strip()))
    if not body or body.strip(" .\"'") == ABSTAIN_TOKEN or (ABSTAIN_TOKEN in body and not quotes):
        if ABSTAIN_TOKEN in raw:
            return Draft(abstained=True, sentences=(), quotes=())
        raise UnparseableOutputError("the model's reply has no answer text")
    sentences = []
    for s, e in split_sentences(body):
        sentence = draft_sentence(body[s:e])
        if sentence.text.strip(" .") and sentence.text != ABSTAIN_TOKEN:
            sentences.append(sentence)
    if not sentences:
        raise UnparseableOutputError("the model's reply has no sentences")
    return Draft(abstained=False, sentences=tuple(sentences), quotes=tuple(quotes))


def _looks_quoted(line: str) -> bool:
    rest = MARKER_RE.sub("", line, count=1).strip(" :-")
    return rest[:1] in "\"“'‘"


def _strip_quote_marks(text: str) -> str:
    t = text.strip()
    pairs = {'"': '"', "“": "”", "'": "'", "‘": "’", "”": "”"}
    if len(t) >= 2 and t[0] in pairs and t[-1] in ('"', "”", "'", "’"):
        t = t[1:-1]
    elif t[:1] in pairs:
        t = t[1:]
    return t.strip()
