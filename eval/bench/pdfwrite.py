"""A minimal byte-level PDF writer for test fixtures: text runs, filled rectangles, images.

Why write bytes instead of using reportlab: every byte of a fixture is then visible in the
code that made it (no binary of unknown origin, no fonts or layout engine deciding where a
line breaks), it costs no dependency, and the built-in (standard 14) fonts need no font files,
so the same bytes come out on any machine. Text uses Helvetica with WinAnsiEncoding; the
ligature characters U+FB01/U+FB02 are drawn with a second Helvetica resource in
StandardEncoding, whose codes 0xAE/0xAF are the "fi"/"fl" glyphs, as old TeX PDFs do.

    pdf = build_pdf([PageSpec(runs=(TextRun(72, 720, "Hello"),))])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

PAGE_WIDTH = 612.0  # US Letter in PDF points; any size works, this is what tools assume
PAGE_HEIGHT = 792.0

_LIGATURE_CODES = {"\ufb01": b"\xae", "\ufb02": b"\xaf"}
_FONTS = (
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /StandardEncoding >>",
)


@dataclass(frozen=True)
class TextRun:
    """One line of text whose baseline starts at (x, y), y measured up from the page bottom."""

    x: float
    y: float
    text: str
    size: float = 11.0
    bold: bool = False


@dataclass(frozen=True)
class PageSpec:
    """What one page draws: text runs, grey rectangles (x, y, w, h) and 2x2 grey images."""

    runs: tuple[TextRun, ...] = ()
    rects: tuple[tuple[float, float, float, float], ...] = ()
    images: tuple[tuple[float, float, float, float], ...] = field(default=())


def _pdf_string(raw: bytes) -> bytes:
    out = bytearray(b"(")
    for b in raw:
        if b in b"()\\":
            out += b"\\" + bytes([b])
        elif 32 <= b < 127:
            out.append(b)
        else:
            out += b"\\%03o" % b
    return bytes(out + b")")


def _run_ops(run: TextRun) -> bytes:
    """BT ... ET for one run; switching fonts inside the run for ligature glyphs."""
    main = b"/F2" if run.bold else b"/F1"
    ops = [b"BT", b"%s %.2f Tf" % (main, run.size), b"%.2f %.2f Td" % (run.x, run.y)]
    buf = ""
    for ch in run.text + "\0":  # the sentinel flushes the last segment
        if ch in _LIGATURE_CODES or ch == "\0":
            if buf:
                ops.append(_pdf_string(buf.encode("cp1252")) + b" Tj")
                buf = ""
            if ch != "\0":
                ops.append(b"/F3 %.2f Tf " % run.size + _pdf_string(_LIGATURE_CODES[ch]) + b" Tj")
                ops.append(b"%s %.2f Tf" % (main, run.size))
        else:
            buf += ch
    ops.append(b"ET")
    return b"\n".join(ops)


def _content(page: PageSpec) -> bytes:
    parts = [b"0.6 g %.2f %.2f %.2f %.2f re f 0 g" % r for r in page.rects]
    for x, y, w, h in page.images:
        # An inline 2x2 8-bit grey image scaled to w x h: what a scanned page is made of.
        parts.append(
            b"q %.2f 0 0 %.2f %.2f %.2f cm BI /W 2 /H 2 /CS /G /BPC 8 ID \x20\x80\xc0\x40 EI Q"
            % (w, h, x, y)
        )
    parts.extend(_run_ops(r) for r in page.runs)
    return b"\n".join(parts) + b"\n"


def build_pdf(
    pages: Sequence[PageSpec],
    width: float = PAGE_WIDTH,
    height: float = PAGE_HEIGHT,
    title: str | None = None,
) -> bytes:
    """A complete PDF with a correct cross-reference table for ``pages``."""
    n_pages = len(pages)
    # Object numbers: 1 catalog, 2 page tree, 3-5 fonts, then (page, content) pairs, then info.
    first_page = 6
    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(n_pages))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n_pages),
        *_FONTS,
    ]
    resources = b"<< /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >> >>"
    for i, page in enumerate(pages):
        content = _content(page)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources %s "
            b"/Contents %d 0 R >>" % (width, height, resources, first_page + 2 * i + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    info = b""
    if title is not None:
        objects.append(
            b"<< /Title %s /Producer (citeqa fixtures) >>" % _pdf_string(title.encode("cp1252"))
        )
        info = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        info,
        xref,
    )
    return bytes(out)


def wrap_words(text: str, width: int) -> list[str]:
    """Greedy ragged-right wrapping at ``width`` characters (fixtures need no font metrics)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines
