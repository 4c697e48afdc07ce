"""Reading a Word (.docx) body with python-docx: paragraphs, headings as sections, tables.

    extracted = extract_docx("notes.docx", data)
    extracted.sections   # ((start, end, "Results", 2), ...) spans of extracted.text

Layout of the text (it becomes ``Document.text``): one paragraph per line, as in the seeds and
the PDF reader; a table is one line per row, cells joined by " | " (so a row reads as a record
and no cell boundary is lost); list items start with "- ", as the HTML reader writes them.
Body order is kept by walking the body's children, so a table stays where it stands. Page
headers/footers, footnotes and comments live in other parts of the package and are not read.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from lxml import etree

from index.errors import InvalidDocumentError

CELL_SEPARATOR = " | "
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
# A .docx under the 5 MiB upload limit can still inflate to gigabytes (a zip bomb); real
# documents stay far below this.
_MAX_UNCOMPRESSED = 256 * 1024 * 1024
_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_GENERIC_TITLES = re.compile(r"^(?:word document|document\d*|untitled|microsoft word\b.*)$", re.I)
_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class ExtractedDocx:
    """Body text of a .docx; ``sections`` are (start, end, heading, level) spans of ``text``.

    A section runs from its heading to the next heading of the same or a higher level (Title
    is level 0, "Heading n" level n), so sections nest and a chunk's heading path is every
    section that contains it.
    """

    text: str
    title: str | None
    sections: tuple[tuple[int, int, str, int], ...]


def _level(paragraph: Paragraph) -> int | None:
    """Heading level from the style name, or from an outline level set on the paragraph or
    its style chain (custom heading styles and localised names carry only that)."""
    style = paragraph.style
    name = style.name if style is not None and style.name else ""
    if name.lower() == "title":
        return 0
    m = _HEADING.match(name)
    if m:
        return int(m.group(1))
    elements = [paragraph._p]
    while style is not None:
        elements.append(style.element)
        style = style.base_style
    for element in elements:
        found = element.find(f"{{{_W_NS}}}pPr/{{{_W_NS}}}outlineLvl")
        if found is not None:
            value = int(found.get(f"{{{_W_NS}}}val", "9"))
            return value + 1 if value < 9 else None  # 9 means "body text"
    return None


def _is_list_item(paragraph: Paragraph) -> bool:
    numbered = paragraph._p.find(f"{{{_W_NS}}}pPr/{{{_W_NS}}}numPr") is not None
    style = paragraph.style
    return numbered or bool(style is not None and (style.name or "").startswith("List"))


def _clean(text: str) -> str:
    # Soft line breaks and tabs inside a paragraph would split it into several "paragraphs".
    return _WS.sub(" ", text).strip()


def _cell_text(cell: _Cell) -> str:
    parts: list[str] = []
    for item in cell.iter_inner_content():
        if isinstance(item, Paragraph):
            parts.append(_clean(item.text))
        else:
            parts.append("; ".join(_rows(item)))  # a nested table, flattened into the cell
    return " ".join(p for p in parts if p)


def _rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A cell spanning several grid columns is returned once per column.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(_cell_text(cell))
        if any(cells):
            yield CELL_SEPARATOR.join(cells)


def _open(name: str, data: bytes) -> DocxDocument:
    if data.startswith(_OLE_MAGIC):
        raise InvalidDocumentError(name, "encrypted or legacy .doc; save as .docx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > _MAX_UNCOMPRESSED:
                raise InvalidDocumentError(name, "not a readable Word document: unpacks too large")
            names = set(zf.namelist())
    except zipfile.BadZipFile as exc:
        raise InvalidDocumentError(
            name, f"not a readable Word document: damaged zip container ({exc})"
        ) from exc
    if "[Content_Types].xml" not in names or not any(n.startswith("word/") for n in names):
        raise InvalidDocumentError(name, "not a Word document: the zip has no word/document.xml")
    try:
        return docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise InvalidDocumentError(name, f"not a Word document: {exc}") from exc
    except (etree.XMLSyntaxError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InvalidDocumentError(name, f"not a readable Word document: {exc}") from exc


def extract_docx(name: str, data: bytes) -> ExtractedDocx:
    """Text, title and heading sections of a .docx, or ``InvalidDocumentError``."""
    document = _open(name, data)
    lines: list[str] = []
    headings: list[tuple[int, str, int]] = []  # (start, text, level)
    pos = 0
    try:
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                text = _clean(item.text)
                if not text:
                    continue  # empty paragraphs are Word's vertical spacing
                level = _level(item)
                if level is not None:
                    headings.append((pos, text, level))
                elif _is_list_item(item):
                    text = f"- {text}"
                new = [text]
            else:
                new = list(_rows(item))
            for line in new:
                lines.append(line)
                pos += len(line) + 1
    except (etree.XMLSyntaxError, KeyError, ValueError) as exc:
        raise InvalidDocumentError(name, f"not a readable Word document: {exc}") from exc
    text = "\n".join(lines)
    if not text.strip():
        raise InvalidDocumentError(name, "Word document has no text in its body")
    sections = []
    for i, (start, heading, level) in enumerate(headings):
        # Up to the line break before the next heading of the same or a higher level.
        end = next((s - 1 for s, _, lv in headings[i + 1 :] if lv <= level), len(text))
        sections.append((start, end, heading, level))
    return ExtractedDocx(text, _title(document, headings), tuple(sections))


def _title(document: DocxDocument, headings: list[tuple[int, str, int]]) -> str | None:
    # The visible Title paragraph beats metadata, which templates often leave stale.
    for _, heading, level in headings:
        if level == 0:
            return heading
    meta = _clean(document.core_properties.title or "")
    if meta and not _GENERIC_TITLES.match(meta):
        return meta
    return next((h for _, h, lv in headings if lv == 1), None)
