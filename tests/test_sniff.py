"""Content sniffing: the bytes decide what a file is; a contradicting extension is refused."""

from __future__ import annotations

import codecs

import pytest

from index.errors import InvalidDocumentError
from index.ingestion.sniff import ACCEPTED, detect_format, sniff
from tests.documents import builders as fixtures

PDF = fixtures.two_page_pdf()
DOCX = fixtures.docx_with_headings_and_table()
HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body><p>Hi</p></body></html>"
TEXT = b"Plain notes about the harbour.\n"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("report.pdf", PDF, "pdf"),
        ("notes.docx", DOCX, "docx"),
        ("page.html", HTML, "html"),
        ("page.htm", codecs.BOM_UTF8 + b"\n  <!-- saved -->\n<html><body>x</body></html>", "html"),
        ("notes.txt", TEXT, "text"),
        ("notes.md", "# Überschrift\n".encode(), "text"),
        ("saved.txt", HTML, "text"),  # the text family: the name wins
        ("fragment.html", b"Just words, no markup.", "html"),
    ],
)
def test_matching_or_text_family_is_read(name, data, expected):
    assert detect_format(name, data).format == expected


def test_pdf_with_junk_before_header_is_a_pdf():
    assert sniff(b"\r\n\x00junk" + PDF).kind == "pdf"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notpdf.pdf", TEXT, "notpdf.pdf: not a PDF (looks like plain text)"),
        ("report.pdf", HTML, "report.pdf: not a PDF (looks like an HTML page)"),
        ("x.docx", PDF, "x.docx: not a Word document (looks like a PDF)"),
        ("x.docx", fixtures.plain_zip(), "x.docx: not a Word document (looks like a zip archive)"),
        ("x.docx", fixtures.ole_file(), "x.docx: encrypted or legacy .doc; save as .docx"),
        (
            "x.docx",
            b"PK\x03\x04 cut short",
            "x.docx: not a Word document (looks like a damaged zip",
        ),
        (
            "scan.pdf",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,
            "scan.pdf: not a PDF (looks like a PNG image)",
        ),
        ("notes.txt", PDF, "notes.txt: not a text file (looks like a PDF)"),
        ("page.html", DOCX, "page.html: not an HTML page (looks like a Word document)"),
        ("empty.txt", b"", "empty.txt: not a text file (looks like an empty file)"),
        (
            "blank.md",
            b" \n\t\n",
            "blank.md: not a text file (looks like a file with only whitespace)",
        ),
        ("utf16.txt", "hi".encode("utf-16"), "utf16.txt: not a text file (looks like binary data"),
        ("latin1.txt", "café".encode("latin-1"), "latin1.txt: not a text file (looks like binary"),
        ("archive.zip", fixtures.plain_zip(), "archive.zip: unsupported file (looks like a zip"),
        ("data.csv", b"a,b\n1,2\n", "data.csv: unsupported file type (.csv)"),
        ("upload.bin", b"\x00\x01\x02\x03", "upload.bin: unsupported file (looks like binary data"),
    ],
)
def test_refusals_name_file_what_it_looks_like_and_what_is_accepted(name, data, message):
    with pytest.raises(InvalidDocumentError) as info:
        detect_format(name, data)
    assert str(info.value).startswith(message)
    assert info.value.name == name
    assert str(info.value).endswith(ACCEPTED)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("upload.bin", PDF, "pdf"),
        ("blob", DOCX, "docx"),
        ("download.tmp", HTML, "html"),
        ("README", TEXT, "text"),
    ],
)
def test_generic_or_missing_extension_is_read_by_content_with_a_note(name, data, expected):
    detected = detect_format(name, data)
    assert detected.format == expected
    assert detected.note is not None
    assert "by its content" in detected.note


def test_other_office_zips_are_named():
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(InvalidDocumentError, match="an Excel workbook"):
        detect_format("sheet.docx", out.getvalue())


def test_multibyte_character_cut_by_sniff_window_is_still_text():
    data = ("a" * 65535 + "é" * 10).encode()
    assert sniff(data).kind == "text"
