"""Locating a quote in its source: tolerant of whitespace, quote marks, dashes and case, never of
changed words, and mapped back to exact offsets of the ORIGINAL text, so a citation's quote is
always ``document.text[start:end]``, never a re-typed variant."""

from __future__ import annotations

import re

MIN_QUOTE_CHARS = 8

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
