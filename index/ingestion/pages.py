"""Mapping character offsets to 1-based page numbers (PDF) and to heading paths (DOCX).

``pages[i] == (start, end)`` is page i+1's span; consecutive spans are separated by one page
separator character, which belongs to the page before it. An empty page has ``start == end``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def page_of(pages: Sequence[tuple[int, int]], offset: int) -> int:
    """1-based page holding character ``offset``; a separator belongs to the page before it."""
    if not pages or offset < 0 or offset > pages[-1][1]:
        last = pages[-1][1] if pages else 0
        raise ValueError(f"offset {offset} is outside the document (0..{last})")
    starts = [s for s, _ in pages]
    return max(1, bisect.bisect_right(starts, offset))


def page_range(pages: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """``(first_page, last_page)``, 1-based, of the non-empty span ``text[start:end]``."""
    if end <= start:
        raise ValueError(f"empty or reversed span {start}..{end}")
    return page_of(pages, start), page_of(pages, end - 1)


def section_path(sections: tuple[tuple[int, int, str, int], ...], offset: int) -> tuple[str, ...]:
    """Headings of every section containing ``offset``, outermost first (for chunk titles)."""
    inside = [(lv, s, h) for s, e, h, lv in sections if s <= offset < e]
    return tuple(h for _, _, h in sorted(inside))
