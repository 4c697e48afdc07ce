"""The layout rules on hand-made lines, plus properties of page mapping and assembly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from index.ingestion.pages import page_of, page_range
from index.ingestion.pdf_layout import (
    PAGE_SEPARATOR,
    PdfLine,
    assemble,
    find_running_lines,
    join_hyphenated,
)


def _line(text, y, x0=72.0, x1=540.0, size=10.0, hyphen=False):
    return PdfLine(text, x0, x1, y, size, hyphen)


def _page(header, body, footer):
    lines = [_line(header, 760)] if header else []
    lines += [_line(t, 700 - 12 * i) for i, t in enumerate(body)]
    return lines + ([_line(footer, 40)] if footer else [])


def test_near_same_headers_and_varying_numbers_are_running_lines():
    pages = [
        _page("Annual Review 2024 – Chapter 1", [body], f"- {n} -")
        for n, body in enumerate(["Ships came.", "Cranes broke.", "Prices rose.", "Work ended."], 1)
    ]
    pages[2][0] = _line("Annual Review 2024 – Chapter 1 (draft)", 760)
    found = find_running_lines(pages)
    assert found == {(p, 0) for p in range(4)} | {(p, 2) for p in range(4)}


def test_a_line_on_fewer_than_half_the_pages_is_content():
    bodies = ["Ships came.", "Cranes broke.", "Prices rose.", "Work ended."]
    pages = [_page("Summary" if p == 0 else None, [bodies[p]], None) for p in range(4)]
    assert find_running_lines(pages) == set()


def test_top_line_repeated_at_the_bottom_is_not_counted_as_a_header():
    # the same words at different edges are different roles
    pages = [
        _page("Notes", ["A."], None),
        _page(None, ["B."], "Notes"),
        _page(None, ["C."], None),
    ]
    assert find_running_lines(pages) == set()


def test_hyphen_rules():
    vocab = {"well-known", "example"}
    assert join_hyphenated("an exam", "ple of", vocab) == "an example of"
    assert join_hyphenated("a well", "known fact", vocab) == "a well-known fact"
    assert join_hyphenated("Franco", "German", set()) == "Franco-German"
    assert join_hyphenated("previ", "ous year", set()) == "previous year"
    assert join_hyphenated("pre", "1990", set()) == "pre-1990"


def test_paragraph_break_on_vertical_gap_join_otherwise():
    lines = [
        _line("The first paragraph runs over", 700),
        _line("two lines and ends here.", 688, x1=300),
        _line("Second paragraph starts after a gap", 664),
        _line("and continues on this line", 652),
    ]
    x = assemble([lines])
    assert x.text == (
        "The first paragraph runs over two lines and ends here.\n"
        "Second paragraph starts after a gap and continues on this line"
    )


def test_heading_by_font_size_is_its_own_line():
    lines = [
        _line("Results", 700, size=16),
        _line("Ships arrived late in", 680),
        _line("January and February.", 668),
    ]
    assert assemble([lines]).text == "Results\nShips arrived late in January and February."


def test_paragraph_continues_into_next_column():
    lines = [
        _line("The left column ends in the middle of a", 100, x0=72, x1=290),
        _line("sentence that the right column finishes.", 700, x0=310, x1=530),
    ]
    assert assemble([lines]).text == (
        "The left column ends in the middle of a sentence that the right column finishes."
    )


def test_word_cut_at_page_end_keeps_its_hyphen():
    p1 = [_line("the agreement was signed by the minis", 100, hyphen=True)]
    p2 = [_line("ters of both countries.", 700)]
    x = assemble([p1, p2])
    assert (
        x.text
        == "the agreement was signed by the minis-" + PAGE_SEPARATOR + "ters of both countries."
    )


def test_lines_without_geometry_still_join():
    x = assemble([[PdfLine("A sentence that wraps"), PdfLine("onto a second line.")]])
    assert x.text == "A sentence that wraps onto a second line."


@st.composite
def _page_spans(draw):
    lengths = draw(st.lists(st.integers(0, 30), min_size=1, max_size=8))
    spans, pos = [], 0
    for i, n in enumerate(lengths):
        if i:
            pos += 1  # separator
        spans.append((pos, pos + n))
        pos += n
    return spans


@given(_page_spans(), st.data())
def test_page_range_is_consistent_with_page_spans(spans, data):
    total = spans[-1][1]
    if total == 0:
        return
    start = data.draw(st.integers(0, total - 1))
    end = data.draw(st.integers(start + 1, total))
    first, last = page_range(spans, start, end)
    assert 1 <= first <= last <= len(spans)
    # each offset lies in its page's span, or in the separator right after it
    for offset, page in ((start, first), (end - 1, last)):
        s, e = spans[page - 1]
        assert s <= offset <= e
        assert page_of(spans, offset) == page
    # every page strictly between holds only characters inside the range
    for p in range(first + 1, last):
        s, e = spans[p - 1]
        assert start <= s
        assert e <= end


_words = st.text(alphabet="abcdefgh XYZ.-", min_size=1, max_size=25)


@given(st.lists(st.lists(_words, max_size=6), min_size=1, max_size=6))
def test_assembled_spans_index_the_text(pages_text):
    pages = [[_line(t, 700 - 12 * i) for i, t in enumerate(ts)] for ts in pages_text]
    x = assemble(pages)
    assert len(x.pages) == len(pages)
    assert x.pages[-1][1] == len(x.text)
    for (_, e1), (s2, _) in zip(x.pages, x.pages[1:], strict=False):
        assert x.text[e1:s2] == PAGE_SEPARATOR
    for s, e in x.boilerplate:
        assert e > s
        line = x.text[s:e]
        assert "\n" not in line
        assert PAGE_SEPARATOR not in line
        assert page_of(x.pages, s) == page_of(x.pages, e - 1)
