"""Token-budgeted chunking of documents along sentence boundaries.

Every span is an offset pair into the document's original text, so for every chunk
``doc.text[chunk.start:chunk.end] == chunk.text``; boilerplate spans never enter a chunk.

    tok = load_default_tokenizer()
    chunks = chunk_document(doc, tok)              # ~<=120 content tokens, hard cap 256 w/ specials
    kept = collapse_near_duplicates(all_chunks)    # one chunk per repeated passage
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from dataclasses import dataclass

from index.embedders.tokenizer import TextTokenizer
from index.ingestion.pages import page_range, section_path
from index.models import Chunk, Document, make_chunk_id
from index.text.cleaning import looks_like_headline
from index.text.sentences import BLANK_LINE, LINE_BREAK_IN, split_sentences

# all-MiniLM-L6-v2 was trained on inputs of at most 128 tokens; its 256-token limit is only
# what it accepts. Chunks of about 120 content tokens (122 with [CLS]/[SEP]) stay inside the
# training length, hold one focused paragraph, and leave room for a prepended title.
DEFAULT_TARGET_TOKENS = 120
DEFAULT_MAX_TOKENS = 256

# A chunk that has reached this share of the target ends at a paragraph break instead of
# reaching into the next paragraph.
_PARAGRAPH_FILL = 0.5
# Below this share a chunk (a heading, a one-line paragraph) joins the next paragraph anyway.
_MIN_FILL = 0.25
# No unit (sentence or piece) and no chunk of several units is longer than this many
# characters, whatever its token count (254 tokens of prose are ~1,300 characters).
_MAX_UNIT_CHARS = 4000

# --------------------------------------------------------------------------- chunking


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an over-long one) with its token count."""

    start: int
    end: int
    tokens: int
    para_break_before: bool
    heading: bool


def _regions(doc: Document) -> list[tuple[int, int]]:
    """The stretches of text between boilerplate spans."""
    out: list[tuple[int, int]] = []
    pos = 0
    for s, e in sorted(doc.boilerplate):
        if s > pos:
            out.append((pos, s))
        pos = max(pos, e)
    if pos < len(doc.text):
        out.append((pos, len(doc.text)))
    return out


def _split_long(
    text: str, s: int, e: int, counter: _SpanCounter, tokenizer: TextTokenizer, limit: int
) -> list[tuple[int, int]]:
    """Cut ``text[s:e]`` at token boundaries into pieces of at most ``limit`` tokens each."""
    spans = counter.spans(s, e)
    n = len(spans)
    out: list[tuple[int, int]] = []
    i, cur = 0, s
    while i < n:
        remaining = n - i
        if remaining <= limit and tokenizer.count(text[cur:e]) <= limit:
            out.append((cur, e))
            break
        if remaining == 1:
            out.append((cur, e))  # one token cannot be cut further
            break
        # Even pieces read better than full pieces and a scrap at the end.
        size = min(math.ceil(remaining / math.ceil(remaining / limit)), remaining - 1)
        k = i + size
        # Prefer a cut before a whole word so the piece re-tokenises to the same tokens.
        j = k
        while j > i + 1 and spans[j][0] == spans[j - 1][1]:
            j -= 1
        if spans[j][0] == spans[j - 1][1]:
            j = k
        # A cut inside a word can change how its pieces tokenise: verify, back off if needed.
        while j > i + 1 and tokenizer.count(text[cur : spans[j][0]]) > limit:
            j -= 1
        out.append((cur, spans[j][0]))
        i, cur = j, spans[j][0]
    if not out:
        out.append((s, e))
    return [(a, b) for a, b in (_trim(text, a, b) for a, b in out) if a < b]


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _separates(ch: str) -> bool:
    """Whether the model's pre-tokenizer always ends a word at ``ch`` (space, punctuation, CJK)."""
    if ch in " \t\n\r":
        return True
    cat = unicodedata.category(ch)
    if cat == "Zs" or cat.startswith("P"):
        return True
    o = ord(ch)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return any(lo <= o <= hi for lo, hi in _CJK_RANGES)


_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


_ENCODE_PIECE_CHARS = 8000
# Places where the model's pre-tokenizer always ends a word: spaces, ASCII punctuation, CJK.
_SAFE_CUT = re.compile(r"[ \t\n\r.,;:!?)\]}\u4e00-\u9fff]")


class _SpanCounter:
    """Token counts of sub-spans of one region from a single tokenizer pass.

    WordPiece tokenises each pre-token (word or punctuation mark) on its own, so where a span's
    edges fall between pre-tokens its count is the number of region tokens inside it. Edges that
    could sit inside a word (control characters, U+2028, cuts inside a word) are recounted.
    """

    def __init__(self, text: str, start: int, end: int, tokenizer: TextTokenizer) -> None:
        self._text = text
        self._lo, self._hi = start, end
        self._tok = tokenizer
        self._starts: list[int] = []
        self._ends: list[int] = []
        # Encoding one huge string is slower than encoding it in pieces; cutting where a word
        # always ends for the model leaves the tokens unchanged.
        pos = start
        while pos < end:
            cut = end
            if end - pos > _ENCODE_PIECE_CHARS:
                m = _SAFE_CUT.search(text, pos + _ENCODE_PIECE_CHARS, end)
                cut = m.end() if m else end
            spans = tokenizer.token_spans(text[pos:cut])
            self._starts.extend([pos + a for a, _ in spans])
            self._ends.extend([pos + b for _, b in spans])
            pos = cut

    def _clean(self, b: int) -> bool:
        if b <= self._lo or b >= self._hi:
            return True
        i = bisect.bisect_right(self._starts, b) - 1
        if i >= 0 and self._starts[i] < b < self._ends[i]:
            return False
        return _separates(self._text[b - 1]) or _separates(self._text[b])

    def spans(self, s: int, e: int) -> list[tuple[int, int]]:
        """The region's tokens that lie inside ``[s, e)``."""
        lo = bisect.bisect_left(self._starts, s)
        hi = bisect.bisect_left(self._starts, e)
        return [
            (a, b) for a, b in zip(self._starts[lo:hi], self._ends[lo:hi], strict=True) if b <= e
        ]

    def count(self, s: int, e: int) -> int:
        if self._clean(s) and self._clean(e):
            return bisect.bisect_left(self._starts, e) - bisect.bisect_left(self._starts, s)
        return self._tok.count(self._text[s:e])


def _char_cuts(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """``text[s:e]`` in stretches of at most ``_MAX_UNIT_CHARS``, cut at a space if there is one."""
    out: list[tuple[int, int]] = []
    pos = s
    while e - pos > _MAX_UNIT_CHARS:
        limit = pos + _MAX_UNIT_CHARS
        space = text.rfind(" ", pos + _MAX_UNIT_CHARS // 2, limit)
        cut = space + 1 if space >= 0 else limit
        out.append((pos, cut))
        pos = cut
    out.append((pos, e))
    return [(a, b) for a, b in (_trim(text, a, b) for a, b in out) if a < b]


def _split_unit(
    text: str,
    s: int,
    e: int,
    n: int,
    counter: _SpanCounter,
    tokenizer: TextTokenizer,
    hard: int,
    piece_tokens: int,
) -> list[tuple[int, int]]:
    """A sentence as one unit, or cut into pieces that fit the token cap and the size cap."""
    pieces = [(s, e)] if n <= hard else _split_long(text, s, e, counter, tokenizer, piece_tokens)
    out: list[tuple[int, int]] = []
    for a, b in pieces:
        if b - a <= _MAX_UNIT_CHARS:
            out.append((a, b))
            continue
        # Text the tokenizer folds into few tokens (one 100k-character "word" is one [UNK])
        # would make a huge chunk that tells the model nothing; bound it in characters too.
        for ca, cb in _char_cuts(text, a, b):
            if tokenizer.count(text[ca:cb]) > hard:
                out.extend(_split_long(text, ca, cb, counter, tokenizer, piece_tokens))
            else:
                out.append((ca, cb))
    return out


def _units(
    text: str,
    counter: _SpanCounter,
    s: int,
    e: int,
    tokenizer: TextTokenizer,
    hard: int,
    target: int,
) -> list[_Unit]:
    sents = split_sentences(text, s, e)
    # Where blank lines separate paragraphs, a single line break is only a wrap or a heading's
    # end; where they do not (one paragraph per line), every line break is a paragraph break.
    para_re = BLANK_LINE if BLANK_LINE.search(text, s, e) else LINE_BREAK_IN
    units: list[_Unit] = []
    prev_end: int | None = None
    for a, b in sents:
        n = counter.count(a, b)
        para = prev_end is not None and bool(para_re.search(text, prev_end, a))
        head = n <= 40 and looks_like_headline(text[a:b])
        pieces = _split_unit(text, a, b, n, counter, tokenizer, hard, min(hard, target))
        for k, (pa, pb) in enumerate(pieces):
            pn = n if len(pieces) == 1 else counter.count(pa, pb)
            units.append(_Unit(pa, pb, pn, para and k == 0, head and len(pieces) == 1))
        prev_end = b
    return units


def _has_content(s: str) -> bool:
    return any(ch.isalnum() for ch in s)


def _pack(
    units: list[_Unit], counter: _SpanCounter, hard: int, target: int, overlap: int
) -> list[tuple[int, int, int]]:
    """Greedy sentence packing; returns ``(start, end, n_tokens)`` per chunk."""
    out: list[tuple[int, int, int]] = []
    i = 0
    first_new = 0  # the chunk must reach past the sentences it repeats from the previous one
    n = len(units)
    # Tokens from each paragraph-opening unit to the end of its paragraph.
    para_left = [0] * (n + 1)
    for k in range(n - 1, -1, -1):
        nxt_para = k + 1 < n and units[k + 1].para_break_before
        para_left[k] = units[k].tokens + (0 if nxt_para else para_left[k + 1])
    while i < n:
        j = i + 1
        total = units[i].tokens
        while j <= first_new:
            total += units[j].tokens
            j += 1
        while j < n:
            u = units[j]
            if u.para_break_before:
                # A heading opens the next chunk; a well-filled chunk ends with its paragraph,
                # and so does a fair one when the next paragraph would not fit whole.
                starts_heading = u.heading and not all(x.heading for x in units[i:j])
                if starts_heading or total >= target * _PARAGRAPH_FILL:
                    break
                if total >= target * _MIN_FILL and total + para_left[j] > target:
                    break
            if total + u.tokens > target or u.end - units[i].start > _MAX_UNIT_CHARS:
                break
            total += u.tokens
            j += 1
        start, end = units[i].start, units[j - 1].end
        real = counter.count(start, end)
        # Counts add up between words; where they might not, never exceed the cap.
        while real > hard and j - 1 > i:
            j -= 1
            end = units[j - 1].end
            real = counter.count(start, end)
        if j <= first_new and i < first_new:
            i = first_new  # only the repeated sentences were left: start over without them
            continue
        out.append((start, end, real))
        if j >= n:
            break
        nxt = j
        if overlap > 0 and not units[j].para_break_before and j - overlap > i:
            back = j - overlap
            carried = sum(u.tokens for u in units[back:j])
            fits = units[j].end - units[back].start <= _MAX_UNIT_CHARS
            if fits and carried <= target // 2 and carried + units[j].tokens <= hard:
                nxt = back
        i, first_new = nxt, j
    return out


def chunk_document(
    doc: Document,
    tokenizer: TextTokenizer,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_sentences: int = 1,
    *,
    target_tokens: int = DEFAULT_TARGET_TOKENS,
) -> list[Chunk]:
    """Split ``doc`` into sentence-aligned chunks that skip its boilerplate.

    ``max_tokens`` is a hard cap that includes the model's special tokens (and is itself capped
    at ``tokenizer.max_seq_length``); ``target_tokens`` is the size, in content tokens, chunks are
    packed to. A chunk ends at a paragraph break once it is half full, or a quarter full when
    the next paragraph would not fit whole; headings open chunks; the last
    ``overlap_sentences`` sentences of a chunk are repeated at the start of the next when a
    paragraph continues across them. A sentence over the cap is cut at token boundaries (and
    nothing longer than 4,000 characters becomes one chunk). Chunks without a letter or digit
    are dropped. Deterministic: the same document gives the same chunk ids.
    """
    hard = min(max_tokens, tokenizer.max_seq_length) - tokenizer.n_special_tokens
    if hard < 1:
        raise ValueError(f"max_tokens={max_tokens} leaves no room besides the special tokens")
    target = max(1, min(target_tokens, hard))
    chunks: list[Chunk] = []
    for rs, re_ in _regions(doc):
        counter = _SpanCounter(doc.text, rs, re_, tokenizer)
        units = _units(doc.text, counter, rs, re_, tokenizer, hard, target)
        for s, e, n in _pack(units, counter, hard, target, overlap_sentences):
            piece = doc.text[s:e]
            if not _has_content(piece):
                continue
            page, page_end = page_range(doc.pages, s, e) if doc.pages else (None, None)
            chunks.append(
                Chunk(
                    id=make_chunk_id(doc.id, s, e),
                    doc_id=doc.id,
                    start=s,
                    end=e,
                    text=piece,
                    title=doc.title,
                    n_tokens=n,
                    page=page,
                    page_end=page_end if page_end != page else None,
                    section=" > ".join(section_path(doc.sections, s)),
                )
            )
    return chunks


# --------------------------------------------------------------------------- near-duplicates
