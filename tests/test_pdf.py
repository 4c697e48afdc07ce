"""PDF reading on fixtures built in code: pages, running lines, hyphens, and every refusal."""

from __future__ import annotations

import pytest

from index.errors import InvalidDocumentError
from index.ingestion.pdf import extract_pdf, page_of, page_range
from index.ingestion.pdf_layout import PAGE_SEPARATOR
from tests.documents import builders as fixtures


def _content(extracted):
    """The text with every boilerplate span cut out (what chunking sees)."""
    out, pos = [], 0
    for s, e in extracted.boilerplate:
        out.append(extracted.text[pos:s])
        pos = e
    return "".join(out) + extracted.text[pos:]


def test_answer_sentence_maps_to_page_two():
    x = extract_pdf("two.pdf", fixtures.two_page_pdf())
    start = x.text.index(fixtures.ANSWER_SENTENCE)
    end = start + len(fixtures.ANSWER_SENTENCE)
    assert x.text[start:end] == fixtures.ANSWER_SENTENCE
    assert page_range(x.pages, start, end) == (2, 2)
    assert page_of(x.pages, start) == 2
    assert page_of(x.pages, x.text.index("port authority met")) == 1
    assert len(x.pages) == 2


def test_pages_partition_the_text_with_one_separator_between():
    x = extract_pdf("run.pdf", fixtures.running_lines_pdf(5))
    assert x.pages[0][0] == 0
    assert x.pages[-1][1] == len(x.text)
    for (_, e1), (s2, _) in zip(x.pages, x.pages[1:], strict=False):
        assert x.text[e1:s2] == PAGE_SEPARATOR
    assert all(PAGE_SEPARATOR not in x.text[s:e] for s, e in x.pages)


def test_paragraphs_are_one_line_each_and_sentences_unsplit():
    x = extract_pdf("two.pdf", fixtures.two_page_pdf())
    page_one = x.text[slice(*x.pages[0])]
    assert page_one.split("\n") == [" ".join(p.split()) for p in fixtures.PAGE_ONE]


def test_running_header_and_page_numbers_are_boilerplate():
    x = extract_pdf("run.pdf", fixtures.running_lines_pdf(4))
    spans = [x.text[s:e] for s, e in x.boilerplate]
    assert spans.count(fixtures.HEADER_TEXT) == 4
    assert [t for t in spans if t.startswith("Page")] == [f"Page {n} of 4" for n in range(1, 5)]
    content = _content(x)
    assert fixtures.HEADER_TEXT not in content
    assert "Page " not in content
    for body in fixtures.BODIES:
        assert body in content
    # each boilerplate span lies inside one page
    for s, e in x.boilerplate:
        assert page_of(x.pages, s) == page_of(x.pages, e - 1)


def test_single_page_has_no_running_lines():
    x = extract_pdf("one.pdf", fixtures.running_lines_pdf(1))
    assert x.boilerplate == ()


def test_hyphenated_line_breaks_joined_real_hyphens_kept():
    x = extract_pdf("hyph.pdf", fixtures.hyphenated_pdf())
    assert x.text == (
        "The committee published an example of the new rules, which many readers found "
        "useful. It was a well-known approach, and one critic called it well-known but slow. "
        "The Franco-German group agreed."
    )


def test_ligature_glyphs_become_letters():
    x = extract_pdf("lig.pdf", fixtures.ligature_pdf())
    assert x.text == "The financial office reported a flow of fifty flights."


def test_scanned_pdf_is_refused_clearly():
    with pytest.raises(InvalidDocumentError, match=r"^scan\.pdf: no text layer; OCR is not"):
        extract_pdf("scan.pdf", fixtures.scanned_pdf())


def test_password_protected_pdf_is_refused_clearly():
    with pytest.raises(InvalidDocumentError) as info:
        extract_pdf("locked.pdf", fixtures.encrypted_pdf("secret"))
    assert info.value.reason == "encrypted PDF; decrypt it first"


def test_pdf_encrypted_with_empty_user_password_opens():
    x = extract_pdf("restricted.pdf", fixtures.encrypted_pdf(""))
    assert fixtures.ANSWER_SENTENCE in x.text


def test_truncated_pdf_is_refused_clearly():
    with pytest.raises(InvalidDocumentError, match=r"^cut\.pdf: not a readable PDF: .*truncated"):
        extract_pdf("cut.pdf", fixtures.truncated_pdf())


def test_garbage_after_pdf_header_is_refused_clearly():
    with pytest.raises(InvalidDocumentError, match=r"^bad\.pdf: not a readable PDF: "):
        extract_pdf("bad.pdf", b"%PDF-1.7\nthis is not really a PDF\n%%EOF\n")


def test_page_of_rejects_offsets_outside_the_text():
    x = extract_pdf("two.pdf", fixtures.two_page_pdf())
    with pytest.raises(ValueError, match="outside"):
        page_of(x.pages, len(x.text) + 1)
    with pytest.raises(ValueError, match="empty"):
        page_range(x.pages, 5, 5)


def test_separator_belongs_to_page_before():
    x = extract_pdf("two.pdf", fixtures.two_page_pdf())
    sep = x.pages[0][1]
    assert page_of(x.pages, sep) == 1
    assert page_range(x.pages, sep - 3, sep + 4) == (1, 2)
