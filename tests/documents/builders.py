"""Test documents built in code: PDFs through ``pdfwrite``, Word files through python-docx.

Nothing here reads a file from disk, so a fixture's content is exactly what this module says.
Encryption uses pypdf's writer (a test-only dependency; the reader never needs pypdf).

    data = two_page_pdf()
    extract_pdf("two.pdf", data)     # ANSWER_SENTENCE lies on page 2
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from eval.bench.pdfwrite import PAGE_HEIGHT, PageSpec, TextRun, build_pdf, wrap_words

ANSWER_SENTENCE = "The harbour bridge reopened on 14 March after repairs costing 2.3 million euros."
HEADER_TEXT = "Harbour Authority Annual Review 2024"
LEFT, TOP, SIZE, LEADING, PARAGRAPH_GAP, WRAP = 72.0, 700.0, 11.0, 14.0, 10.0, 78

PAGE_ONE = (
    "The port authority met on Monday to review the winter maintenance programme. Engineers "
    "reported that three of the five cranes on the north quay had been inspected and cleared "
    "for service, while the remaining two await replacement parts from the manufacturer.",
    "Traffic through the port fell by four percent in January, which officials attributed to "
    "storms in the North Sea rather than to any lasting change in demand.",
)
PAGE_TWO = (
    "Work on the harbour bridge took longer than planned because corrosion was found in the "
    "main cables. " + ANSWER_SENTENCE + " Pedestrians and cyclists were the first to cross.",
    "The authority expects the next review to take place in the autumn.",
)
BODIES = (
    "Cargo volumes rose in the second quarter as two new shipping lines began weekly calls.",
    "Dredging of the outer channel was completed in May, a month ahead of schedule.",
    "The board approved a plan to electrify the container terminal by the end of 2026.",
    "Staff numbers remained stable, and the safety record improved for a third year.",
)


def paragraph_runs(paragraphs: Sequence[str], top: float = TOP) -> tuple[TextRun, ...]:
    """Paragraphs wrapped ragged-right, with a blank half-line between them."""
    runs: list[TextRun] = []
    y = top
    for para in paragraphs:
        for line in wrap_words(para, WRAP):
            runs.append(TextRun(LEFT, y, line, SIZE))
            y -= LEADING
        y -= PARAGRAPH_GAP
    return tuple(runs)


def two_page_pdf() -> bytes:
    """Two text pages; ``ANSWER_SENTENCE`` is in the first paragraph of page 2."""
    return build_pdf([PageSpec(paragraph_runs(PAGE_ONE)), PageSpec(paragraph_runs(PAGE_TWO))])


def running_lines_pdf(pages: int = 4) -> bytes:
    """``pages`` pages, each with the same header, a body paragraph and "Page n of N"."""
    specs = []
    for n in range(1, pages + 1):
        header = TextRun(LEFT, PAGE_HEIGHT - 40, HEADER_TEXT, 9)
        footer = TextRun(280, 36, f"Page {n} of {pages}", 9)
        body = paragraph_runs((BODIES[(n - 1) % len(BODIES)],))
        specs.append(PageSpec((header, *body, footer)))
    return build_pdf(specs)


def scanned_pdf(pages: int = 2) -> bytes:
    """Pages that draw a grey rectangle and an image but hold no text, like a scan."""
    spec = PageSpec(rects=((72, 500, 300, 200),), images=((72, 100, 400, 380),))
    return build_pdf([spec] * pages)


def encrypted_pdf(user_password: str = "secret") -> bytes:
    """``two_page_pdf`` encrypted (RC4-128, which pypdf writes without extra packages).

    With ``user_password=""`` the file opens without a password, as most "protected" PDFs
    (printing or copying restricted by an owner password) do.
    """
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(two_page_pdf())))
    writer.encrypt(
        user_password=user_password, owner_password="owner-" + user_password, algorithm="RC4-128"
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated_pdf(keep: float = 0.6) -> bytes:
    """The first ``keep`` share of ``two_page_pdf``: a download that stopped early."""
    data = two_page_pdf()
    return data[: int(len(data) * keep)]


HYPHEN_LINES = (
    "The committee published an exam-",
    "ple of the new rules, which many",
    "readers found use-",
    "ful. It was a well-known approach,",
    "and one critic called it well-",
    "known but slow. The Franco-",
    "German group agreed.",
)


def hyphenated_pdf() -> bytes:
    """One paragraph whose lines end in hyphens: soft ("exam-ple") and real ("well-known")."""
    runs = tuple(TextRun(LEFT, TOP - i * LEADING, t, SIZE) for i, t in enumerate(HYPHEN_LINES))
    return build_pdf([PageSpec(runs)])


def ligature_pdf() -> bytes:
    """Text drawn with the "fi"/"fl" ligature glyphs, as TeX documents often are."""
    text = "The \ufb01nancial of\ufb01ce reported a \ufb02ow of \ufb01fty \ufb02ights."
    return build_pdf([PageSpec((TextRun(LEFT, TOP, text, SIZE),))])


def docx_with_headings_and_table() -> bytes:
    """Title, two headed sections, a 3-row table between paragraphs, and a bullet list."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Harbour review (metadata)"
    document.add_paragraph("Harbour Review", style="Title")
    document.add_heading("Maintenance", level=1)
    document.add_paragraph("Three cranes were inspected in January.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(
        (
            ("Crane", "Status", "Due"),
            ("North 1", "cleared", "2024"),
            ("North 2", "awaiting parts", "2025"),
        )
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("The remaining cranes await parts.")
    document.add_heading("Bridge works", level=2)
    document.add_paragraph(ANSWER_SENTENCE)
    document.add_paragraph("")  # Word users space paragraphs with empty ones
    document.add_heading("Outlook", level=1)
    document.add_paragraph("Electrify the terminal", style="List Bullet")
    document.add_paragraph("Dredge the channel", style="List Bullet")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def ole_file() -> bytes:
    """The 512-byte header of an OLE compound file: a legacy .doc or a password-protected .docx."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00" + b"\x00" * 484


def zip_without_document() -> bytes:
    """A zip with a content-types part but no word/ folder (an Office file of another kind)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        zf.writestr("notes.txt", "hello")
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("readme.txt", "hello")
    return out.getvalue()
