"""Word reading: body order, table rows, heading sections, and refusals."""

from __future__ import annotations

import io

import docx
import pytest

from index.errors import InvalidDocumentError
from index.ingestion.docx import CELL_SEPARATOR, extract_docx
from index.ingestion.pages import section_path
from tests.documents import builders as fixtures


@pytest.fixture(scope="module")
def extracted():
    return extract_docx("review.docx", fixtures.docx_with_headings_and_table())


def test_table_rows_in_order_between_their_paragraphs(extracted):
    lines = extracted.text.split("\n")
    i = lines.index("Three cranes were inspected in January.")
    assert lines[i + 1 : i + 5] == [
        CELL_SEPARATOR.join(("Crane", "Status", "Due")),
        CELL_SEPARATOR.join(("North 1", "cleared", "2024")),
        CELL_SEPARATOR.join(("North 2", "awaiting parts", "2025")),
        "The remaining cranes await parts.",
    ]


def test_headings_are_nested_sections(extracted):
    text = extracted.text
    got = [(h, lv, text[s:e].split("\n")[0]) for s, e, h, lv in extracted.sections]
    assert got == [
        ("Harbour Review", 0, "Harbour Review"),
        ("Maintenance", 1, "Maintenance"),
        ("Bridge works", 2, "Bridge works"),
        ("Outlook", 1, "Outlook"),
    ]
    maintenance = next(sec for sec in extracted.sections if sec[2] == "Maintenance")
    assert text[maintenance[0] : maintenance[1]].endswith(fixtures.ANSWER_SENTENCE)
    answer = text.index(fixtures.ANSWER_SENTENCE)
    assert section_path(extracted.sections, answer) == (
        "Harbour Review",
        "Maintenance",
        "Bridge works",
    )


def test_title_list_items_and_no_empty_lines(extracted):
    assert extracted.title == "Harbour Review"
    assert extracted.text.endswith("- Electrify the terminal\n- Dredge the channel")
    assert "" not in extracted.text.split("\n")


def test_merged_cells_are_read_once():
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Wide"
    table.cell(0, 2).text = "C"
    table.cell(1, 0).text = "1"
    table.cell(1, 1).text = "2"
    table.cell(1, 2).text = "3"
    out = io.BytesIO()
    document.save(out)
    x = extract_docx("m.docx", out.getvalue())
    assert x.text == "Wide | C\n1 | 2 | 3"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (fixtures.ole_file(), "encrypted or legacy .doc; save as .docx"),
        (fixtures.zip_without_document(), "not a Word document: the zip has no word/document.xml"),
        (fixtures.docx_with_headings_and_table()[:2000], "not a readable Word document: damaged"),
    ],
)
def test_refusals(data, reason):
    with pytest.raises(InvalidDocumentError) as info:
        extract_docx("bad.docx", data)
    assert info.value.reason.startswith(reason)
    assert str(info.value).startswith("bad.docx: ")


def test_document_without_text_is_refused():
    out = io.BytesIO()
    docx.Document().save(out)
    with pytest.raises(InvalidDocumentError, match="no text"):
        extract_docx("empty.docx", out.getvalue())
