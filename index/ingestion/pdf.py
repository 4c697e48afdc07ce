"""Reading a PDF's text layer with pypdfium2 (PDFium), page by page, with clear refusals.

    extracted = extract_pdf("report.pdf", data)
    extracted.text[s:e]                     # page 1 is extracted.pages[0] == (s, e)
    page_range(extracted.pages, start, end) # the pages a citation spans

Why PDFium and not pypdf: on LibreOffice-made articles it was ~10-20x faster, kept the single
spaces of justified lines (pypdf doubles them), reported hyphenation points (U+FFFE), expanded
ligature glyphs, and gives each character's box, which the paragraph rules need (see the
report in bench/). PDFium is not thread-safe, so every call into it holds one lock.
"""

from __future__ import annotations

import ctypes
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from index.errors import InvalidDocumentError
from index.ingestion.pages import page_of, page_range
from index.ingestion.pdf_layout import ExtractedPdf, PdfLine, assemble

__all__ = ["ExtractedPdf", "extract_pdf", "page_of", "page_range"]

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
# PDFium ends a line with CRLF, or writes U+FFFE (some builds \x02) where it removed a hyphen
# at a line end and joined the two lines.
_LINE_END = re.compile(r"\r\n|[\r\n]|[\ufffe\x02]")
# The spec puts "%%EOF" in the last 1 KiB; PDFium silently rebuilds a cut file from what is
# left, so without this check a truncated upload would lose its last pages without a word.
_EOF_WINDOW = 1024


def _open(name: str, data: bytes) -> Any:
    if b"%%EOF" not in data[-_EOF_WINDOW:]:
        raise InvalidDocumentError(
            name,
            "not a readable PDF: the file is truncated (no %%EOF end marker); "
            "download or export it again",
        )
    try:
        # Many "protected" PDFs only restrict printing/copying and open with the empty user
        # password; PDFium tries it when given "", so only a real password is refused below.
        return pdfium.PdfDocument(data, password="")
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise InvalidDocumentError(name, "encrypted PDF; decrypt it first") from exc
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise InvalidDocumentError(
                name, "encrypted PDF (unsupported security handler); decrypt it first"
            ) from exc
        raise InvalidDocumentError(name, f"not a readable PDF: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    # "Failed to load document (PDFium: Data format error)." -> "data format error"
    m = re.search(r"PDFium: ([^)]+)\)", str(exc))
    return (m.group(1) if m else str(exc)).strip().rstrip(".").lower()


def _page_lines(textpage: Any) -> list[PdfLine]:
    """The page's lines: left edge of the first visible char, right edge of the last, and
    the first char's baseline and font size."""
    text: str = textpage.get_text_range()
    # Char boxes are looked up by index into PDFium's char list; that works only while the
    # returned text has one character per char (not so with characters beyond UCS-2).
    geometry = len(text) == textpage.count_chars()
    lines: list[PdfLine] = []
    pos = 0
    x, y = ctypes.c_double(), ctypes.c_double()
    for m in [*_LINE_END.finditer(text), None]:
        end = m.start() if m else len(text)
        segment = text[pos:end]
        hyphen = bool(m and m.group() in "\ufffe\x02")
        first = pos + len(segment) - len(segment.lstrip())
        last = pos + len(segment.rstrip()) - 1
        if last >= first:
            if geometry and _generated_gap_before_hyphen(textpage, text, last):
                # PDFium inserts a space before the hyphen of a stretched justified line
                # ("ver -"); a space it made up is not in the document, so it goes.
                segment = text[pos : last - 1] + "-"
            if geometry:
                left = textpage.get_charbox(first)[0]
                right = textpage.get_charbox(last)[2]
                ok = pdfium_c.FPDFText_GetCharOrigin(
                    textpage.raw, first, ctypes.byref(x), ctypes.byref(y)
                )
                size = float(pdfium_c.FPDFText_GetFontSize(textpage.raw, first))
                baseline = y.value if ok else None
                lines.append(PdfLine(segment, left, right, baseline, size, hyphen))
            else:
                lines.append(PdfLine(segment, hyphen_end=hyphen))
        pos = m.end() if m else len(text)
    return lines


def _generated_gap_before_hyphen(textpage: Any, text: str, last: int) -> bool:
    return (
        last >= 2
        and text[last] == "-"
        and text[last - 1] == " "
        and text[last - 2].isalpha()
        and pdfium_c.FPDFText_IsGenerated(textpage.raw, last - 1) == 1
    )


def _title(doc: Any) -> str | None:
    try:
        value = doc.get_metadata_value("Title")
    except (pdfium.PdfiumError, KeyError, ValueError):
        return None
    title = " ".join(str(value).split())
    return title or None


def _read_pages(name: str, doc: Any) -> list[list[PdfLine]]:
    pages: list[list[PdfLine]] = []
    for index in range(len(doc)):
        try:
            page = doc[index]
            textpage = page.get_textpage()
        except pdfium.PdfiumError as exc:
            raise InvalidDocumentError(
                name, f"not a readable PDF: page {index + 1} cannot be read ({_reason(exc)})"
            ) from exc
        try:
            pages.append(_page_lines(textpage))
        finally:
            textpage.close()
            page.close()
    return pages


def extract_pdf(name: str, data: bytes) -> ExtractedPdf:
    """Text, page spans and running-header/footer spans of a PDF, or ``InvalidDocumentError``."""
    with _LOCK:
        doc = _open(name, data)
        try:
            if len(doc) == 0:
                raise InvalidDocumentError(name, "not a readable PDF: it has no pages")
            pages = _read_pages(name, doc)
            title = _title(doc)
        finally:
            doc.close()
    extracted = assemble(pages, title)
    if not _has_content(extracted):
        raise InvalidDocumentError(
            name, "no text layer; OCR is not supported (a scanned PDF holds only images)"
        )
    empty = [i + 1 for i, (s, e) in enumerate(extracted.pages) if s == e]
    if empty:
        logger.warning("%s: pages without text (scanned?): %s", name, _ranges(empty))
    return extracted


def _has_content(extracted: ExtractedPdf) -> bool:
    """Whether a letter or digit lies outside headers and footers (a scan's page numbers)."""
    pos = 0
    text = extracted.text
    for s, e in (*extracted.boilerplate, (len(text), len(text))):
        if any(ch.isalnum() for ch in text[pos:s]):
            return True
        pos = e
    return False


def _ranges(pages: Sequence[int]) -> str:
    out: list[str] = []
    for p in pages:
        if out and out[-1].split("-")[-1] == str(p - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{p}"
        else:
            out.append(str(p))
    return ", ".join(out)
