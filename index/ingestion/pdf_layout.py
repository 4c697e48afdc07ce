"""From positioned PDF lines to one text: paragraphs, hyphenation, running headers and footers.

Pure functions over ``PdfLine`` values, so the rules are tested without any PDF library. The
text built here *is* ``Document.text``; pages and boilerplate are spans into it.

Layout of the built text: one paragraph per line ("\\n" between paragraphs, as in the seed
articles, which the chunker reads as paragraph breaks), pages joined by "\\f". A header or
footer line is its own line, listed as a boilerplate span.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

PAGE_SEPARATOR = "\f"
PARAGRAPH_SEPARATOR = "\n"

# Lines this far from a page's top or bottom edge may be running headers or footers.
_EDGE_LINES = 2
# Running heads are short; a long line at a page edge is body text even if it recurs.
_MAX_RUNNING_WORDS = 12
# Near-same header lines ("Chapter 2 - Draft" / "Chapter 2 - Draft v2") still count as one.
_NEAR_SAME = 0.85
_TERMINAL = re.compile(r"[.!?:;…][\"'”’»)\]]*$")
_BULLET = re.compile(r"^(?:[•·▪►◦‣*–—-]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_WORD = re.compile(r"[^\W\d_]+(?:[-‐][^\W\d_]+)*")
_TRAILING_WORD = re.compile(r"([^\W\d_]+)[-‐]?$")
_LEADING_WORD = re.compile(r"^([^\W\d_]+)")
_HYPHENS = "-‐"
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
    }
)
_INVISIBLE = re.compile(r"[\u00ad\u200b\u200c\u200d\u2060\ufeff\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


@dataclass(frozen=True)
class PdfLine:
    """One visual line: text, left/right edges, baseline and font size in PDF points.

    y grows upwards. The baseline and size are the first character's (PDFium's char origin and
    font size: unlike glyph boxes they do not change with the letters on the line).

    ``hyphen_end`` is set when the extractor reported the line as ending in a hyphenation
    point (pdfium drops the hyphen and writes U+FFFE there). Geometry is ``None`` when the
    extractor could not give it; the rules then fall back to text cues alone.
    """

    text: str
    x0: float | None = None
    x1: float | None = None
    baseline: float | None = None
    size: float | None = None
    hyphen_end: bool = False


@dataclass(frozen=True)
class ExtractedPdf:
    """Text of a PDF with page spans (page i is ``text[s:e]`` of ``pages[i]``) and boilerplate."""

    text: str
    pages: tuple[tuple[int, int], ...]
    boilerplate: tuple[tuple[int, int], ...]
    title: str | None = None


def clean_line(text: str) -> str:
    """Expand ligatures, drop invisible characters, collapse runs of spaces."""
    text = _INVISIBLE.sub("", text.translate(_LIGATURES))
    return _SPACES.sub(" ", text).strip()


def _edge_key(text: str) -> str:
    # Page numbers vary from page to page; every digit run becomes one placeholder.
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def find_running_lines(pages: Sequence[Sequence[PdfLine]]) -> set[tuple[int, int]]:
    """``(page, line)`` indexes of headers/footers: lines at the top or bottom of a page whose
    near-same text sits at the same edge of at least half the pages (and of two or more)."""
    need = max(2, (len(pages) + 1) // 2)
    groups: dict[tuple[str, str], set[int]] = {}
    members: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for p, lines in enumerate(pages):
        n = len(lines)
        half = (n + 1) // 2  # on a short page the top and bottom zones must not overlap
        edges = [("top", i) for i in range(min(_EDGE_LINES, half))]
        edges += [("bottom", i) for i in range(max(half, n - _EDGE_LINES), n)]
        for zone, i in edges:
            key = _edge_key(lines[i].text)
            if not key or len(key.split()) > _MAX_RUNNING_WORDS:
                continue
            group = (zone, key)
            if group not in groups:
                similar = [
                    g
                    for g in groups
                    if g[0] == zone and SequenceMatcher(None, g[1], key).ratio() >= _NEAR_SAME
                ]
                group = similar[0] if similar else group
            groups.setdefault(group, set()).add(p)
            members.setdefault(group, []).append((p, i))
    return {m for g, pages_seen in groups.items() if len(pages_seen) >= need for m in members[g]}


def _vocabulary(pages: Sequence[Sequence[PdfLine]]) -> set[str]:
    """Lower-cased words and hyphenated compounds as they appear *inside* lines."""
    vocab: set[str] = set()
    for lines in pages:
        for line in lines:
            words = _WORD.findall(line.text)
            # A line's last word may be a fragment cut by a hyphenation point: leave it out.
            vocab.update(w.lower() for w in (words[:-1] if line.hyphen_end else words))
    return vocab


def join_hyphenated(left: str, right: str, vocab: set[str]) -> str:
    """``left`` (ending at a hyphenation point, hyphen removed) joined to ``right``.

    The hyphen stays when the word after it is capitalised ("Franco-German") or when the
    document itself writes the compound with a hyphen inside a line ("well-known"); it goes
    when the document writes the joined word, and by default, since in justified text most
    line-end hyphens are the typesetter's.
    """
    lw = _TRAILING_WORD.search(left)
    rw = _LEADING_WORD.match(right)
    if not lw or not rw:
        return f"{left}-{right}"
    a, b = lw.group(1), rw.group(1)
    if b[0].isupper() or f"{a}-{b}".lower() in vocab:
        return f"{left}-{right}"
    return left + right


def _cut_word(line: PdfLine) -> bool:
    """Whether ``line`` ends inside a word: a hyphenation point, or a letter and a hyphen."""
    text = line.text
    return line.hyphen_end or (len(text) >= 2 and text[-1] in _HYPHENS and text[-2].isalpha())


def _join(current: str, prev: PdfLine, line: PdfLine, vocab: set[str]) -> str:
    """``current`` (a paragraph ending with ``prev``'s text) continued by ``line``."""
    nxt = line.text
    alpha = nxt[:1].isalpha()
    if prev.hyphen_end:  # PDFium removed the hyphen
        return join_hyphenated(current, nxt, vocab) if alpha else f"{current}-{nxt}"
    if _cut_word(prev):
        return join_hyphenated(current[:-1], nxt, vocab) if alpha else current + nxt
    if current.endswith(" -") and nxt[:1].islower():
        # PDFium sometimes writes a justified line's final hyphen as " -". A spaced hyphen is
        # also a dash, so the halves are joined only if the document uses the joined word.
        lw = _TRAILING_WORD.search(current[:-2])
        rw = _LEADING_WORD.match(nxt)
        if lw and rw and (lw.group(1) + rw.group(1)).lower() in vocab:
            return current[:-2] + nxt
    return f"{current} {nxt}"


def _page_metrics(lines: Sequence[PdfLine]) -> tuple[float, float]:
    """Median baseline-to-baseline pitch and the width spanned by the page's lines."""
    pitches = []
    for a, b in itertools.pairwise(lines):
        if a.baseline is not None and b.baseline is not None and a.size:
            dy = a.baseline - b.baseline
            if 0 < dy < 3 * a.size:
                pitches.append(dy)
    x0s = [ln.x0 for ln in lines if ln.x0 is not None]
    x1s = [ln.x1 for ln in lines if ln.x1 is not None]
    width = max(x1s) - min(x0s) if x0s and x1s else 0.0
    return (statistics.median(pitches) if pitches else 0.0), width


def _breaks(a: PdfLine, b: PdfLine, after: PdfLine | None, pitch: float, width: float) -> bool:
    """Whether a paragraph ends between consecutive lines ``a`` and ``b``.

    Breaking wrongly splits a sentence across two "paragraphs"; joining wrongly only makes a
    paragraph longer. So only strong evidence breaks: extra vertical space, a change of font
    size, a move up or sideways (new column), a bullet, or a short line ending a sentence.
    """
    if _cut_word(a) and b.text[:1].islower():
        return False  # a word cut in two, even across a column, continues the paragraph
    if _BULLET.match(b.text):
        return True
    terminal = bool(_TERMINAL.search(a.text))
    if (
        a.x0 is None
        or a.x1 is None
        or a.baseline is None
        or not a.size
        or b.x0 is None
        or b.x1 is None
        or b.baseline is None
        or not b.size
    ):
        return terminal and b.text[:1].isupper() and len(a.text) < 50
    if abs(a.size - b.size) > 0.15 * max(a.size, b.size):
        return True
    dy = a.baseline - b.baseline
    if dy <= 0.2 * a.size or (width and abs(b.x0 - a.x0) > 0.5 * width):
        # Up or sideways: the next column or a text box. A paragraph flows on into the next
        # column when the line before stops mid-sentence and the next starts in lower case.
        return terminal or not b.text[:1].islower()
    if pitch and dy > 1.3 * pitch + 0.5:
        return True
    if not terminal:
        return False
    if b.x0 - a.x0 > 0.8 * a.size:
        return True  # the next line is indented: a first line
    right = max(b.x1, after.x1 if after is not None and after.x1 is not None else b.x1)
    return bool(width) and a.x1 < right - 0.1 * width


def _paragraphs(lines: Sequence[PdfLine], vocab: set[str]) -> list[str]:
    pitch, width = _page_metrics(lines)
    out: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        if i == 0:
            current = line.text
        elif _breaks(
            lines[i - 1], line, lines[i + 1] if i + 1 < len(lines) else None, pitch, width
        ):
            out.append(current + ("-" if lines[i - 1].hyphen_end else ""))
            current = line.text
        else:
            current = _join(current, lines[i - 1], line, vocab)
    if lines and lines[-1].hyphen_end:
        # A word cut at the end of a page (or before a footer) is not joined across the page
        # break, so the hyphen PDFium removed is put back: the text reads as the page does.
        current += "-"
    if current:
        out.append(current)
    return out


def assemble(pages: Sequence[Sequence[PdfLine]], title: str | None = None) -> ExtractedPdf:
    """The ``ExtractedPdf`` of pages of lines: running lines found, paragraphs rebuilt."""
    cleaned = [
        [
            PdfLine(t, ln.x0, ln.x1, ln.baseline, ln.size, ln.hyphen_end)
            for ln in lines
            if (t := clean_line(ln.text))
        ]
        for lines in pages
    ]
    running = find_running_lines(cleaned)
    vocab = _vocabulary(cleaned)
    parts: list[str] = []
    pos = 0
    spans: list[tuple[int, int]] = []
    boilerplate: list[tuple[int, int]] = []
    for p, lines in enumerate(cleaned):
        if p:
            parts.append(PAGE_SEPARATOR)
            pos += len(PAGE_SEPARATOR)
        start = pos
        blocks: list[tuple[str, bool]] = []
        body: list[PdfLine] = []
        for i, line in enumerate(lines):
            if (p, i) in running:
                blocks.extend((t, False) for t in _paragraphs(body, vocab))
                body = []
                blocks.append((line.text, True))
            else:
                body.append(line)
        blocks.extend((t, False) for t in _paragraphs(body, vocab))
        for k, (block, is_running) in enumerate(blocks):
            if k:
                parts.append(PARAGRAPH_SEPARATOR)
                pos += len(PARAGRAPH_SEPARATOR)
            if is_running:
                boilerplate.append((pos, pos + len(block)))
            parts.append(block)
            pos += len(block)
        spans.append((start, pos))
    return ExtractedPdf("".join(parts), tuple(spans), tuple(boilerplate), title)
