"""The one sentence splitter, shared by chunking, retrieval re-ranking and answering.

Spans are offsets into the text given, so ``text[s:e]`` is always the sentence verbatim.

    split_sentences("Kim met Putin. They signed a pact.")  # [(0, 14), (15, 34)]
"""

from __future__ import annotations

import re

from index.text.cleaning import iter_lines

_TERMINAL_RE = re.compile(r"[.!?…]+[\"'”’»)\]]*")
_MARKERS_RE = re.compile(r"(?:[ \t]*\[\d+(?:\s*,\s*\d+)*\])+")
_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«([¿¡"


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Abbreviations after which a period almost never ends the sentence.
_TITLES = _word_set(
    "mr mrs ms messrs dr prof gen col lt sgt capt cmdr cdr adm maj brig cpl pvt gov sen rep "
    "rev hon pres amb supt insp fr sr jr st mt ft vs no nos vol fig pp approx dept univ"
)
# Abbreviations that can close a sentence: split only when a usual sentence opener follows.
_AMBIGUOUS = _word_set(
    "etc inc ltd co corp bros jan feb mar apr jun jul aug sep sept oct nov dec al"
)
_OPENER_WORDS = _word_set(
    "the this that these those it its he she they we i you but however in a an and as if "
    "when while meanwhile according on at for after before there some many most his her "
    "their our yet so still also officials analysts experts"
)


LINE_BREAK_IN = re.compile(r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
BLANK_LINE = re.compile(r"\n[ \t\r]*\n|\r[ \t]*\r|[\u2029\x0c]")


def _block_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraph-like blocks: lines, re-joined where a hard wrap split a sentence."""
    blocks: list[tuple[int, int]] = []
    for s, e in iter_lines(text, start, end):
        line = text[s:e]
        if not line.strip():
            continue
        if blocks:
            prev = text[max(blocks[-1][0], blocks[-1][1] - 16) : blocks[-1][1]].rstrip()
            gap = text[blocks[-1][1] : s]
            single_break = len(LINE_BREAK_IN.findall(gap.replace("\r\n", "\n"))) <= 1
            open_end = (prev[-1:].isalpha() and prev[-1:].islower()) or prev.endswith(",")
            if single_break and open_end and line.lstrip()[:1].islower():
                blocks[-1] = (blocks[-1][0], e)
                continue
        blocks.append((s, e))
    return blocks


def _word_before(text: str, pos: int, lo: int) -> str:
    """The run of non-space characters ending at ``pos`` (the period's position)."""
    i = pos
    # Bounded look-back: abbreviations are short, and a long run must not make this quadratic.
    floor = max(lo, pos - 32)
    while i > floor and not text[i - 1].isspace():
        i -= 1
    return text[i:pos].lstrip(_OPENERS)


_NEXT_WORD = re.compile(r"\s*[\"'“‘(]*([^\W\d_]+)")
_NON_SPACE = re.compile(r"\S")


def _next_word(text: str, pos: int, hi: int) -> str:
    m = _NEXT_WORD.match(text, pos, hi)
    return m.group(1) if m else ""


def _is_boundary(text: str, m: re.Match[str], lo: int, hi: int) -> bool:
    end = m.end()
    if end >= hi:
        return False
    punct = m.group(0).rstrip(_CLOSERS)
    nxt = text[end]
    if not nxt.isspace():
        # Glued sentences ("involvement.The June ..."): lowercase word, period, Capitalised word.
        before = text[max(lo, m.start() - 2) : m.start()]
        after = text[end : end + 2]
        return (
            len(before) == 2
            and before.isalpha()
            and before.islower()
            and len(after) == 2
            and after[0].isupper()
            and after[1].islower()
            and punct[-1] in ".!?"
        )
    nxt_m = _NON_SPACE.search(text, end, hi)
    if nxt_m is None:
        return False
    first = nxt_m.group(0)
    if first.islower():
        return False
    if punct != ".":
        return True
    word = _word_before(text, m.start(), lo)
    bare = word.rstrip(".").lower()
    if bare in _TITLES:
        return False
    opener = _next_word(text, end, hi).lower() in _OPENER_WORDS
    if bare in _AMBIGUOUS:
        return opener
    # Initialisms and initials ("U.S.", "J."): a capitalised word after them is usually a name.
    if re.fullmatch(r"(?:[A-Za-z]\.)*[A-Za-z]", word.rstrip(".")) and (
        "." in word.rstrip(".") or len(bare) == 1
    ):
        return opener
    return True


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(s, e)`` of ``text[start:end]``, whitespace trimmed, in order.

    Line breaks end sentences unless they wrap a sentence (lowercase continues it); periods after
    abbreviations, initialisms and inside numbers do not; a period glued to a capitalised word
    ("involvement.The") does.
    """
    stop = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for bs, be in _block_spans(text, start, stop):
        cur = bs
        for m in _TERMINAL_RE.finditer(text, bs, be):
            if m.start() < cur or not _is_boundary(text, m, bs, be):
                continue
            # Citation markers after the full stop belong to the sentence they close.
            markers = _MARKERS_RE.match(text, m.end(), be)
            end = markers.end() if markers else m.end()
            spans.append((cur, end))
            cur = end
        spans.append((cur, be))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out
