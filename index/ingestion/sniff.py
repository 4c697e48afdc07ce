"""Recognising a file's format from its bytes, with the extension only as a hint.

Rule (what is read, what is refused):

- The content decides what a file *is*; the extension is what the user *claims*.
- When the extension claims a format we read (.pdf, .docx, .html/.htm, .txt/.md/.markdown) and
  the content is a different format, the file is refused, naming both: a "report.pdf" that is
  really an HTML error page, or a "notes.docx" that is a PDF, is almost always a wrong upload or
  a failed download, and indexing it silently would put the wrong text behind citations.
- Exception: the text family. HTML named .txt/.md is read as text (its source is what the user
  named and what gets quoted); text named .html is read as HTML (parsing plain text as HTML only
  decodes entities).
- No extension or a generic one (.bin, .dat, .tmp, ...): nothing is claimed, so the content
  decides; a real PDF named ``upload.bin`` is read as a PDF, with a note saying so.
- Any other extension (.csv, .json, .png, .xlsx, ...) is refused as unsupported, as today, so
  that walking a folder does not start indexing source code or data files.

Every refusal names the file (via ``InvalidDocumentError``) and lists the accepted formats.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from index.errors import InvalidDocumentError

Format = Literal["pdf", "docx", "html", "text"]
Kind = Literal["pdf", "docx", "html", "text", "zip", "ole", "binary", "empty"]

ACCEPTED = "accepted: PDF (.pdf), Word (.docx), HTML (.html, .htm), UTF-8 text (.txt, .md)"

_CLAIMS: dict[str, Format] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".md": "text",
    ".markdown": "text",
}
# Extensions that say nothing about the content (uploads, downloads, temp copies).
_GENERIC = frozenset({"", ".bin", ".dat", ".data", ".tmp", ".upload", ".download", ".file"})
_NOUN: dict[Format, str] = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "html": "an HTML page",
    "text": "a text file",
}
_FAMILY_TEXT = frozenset({"html", "text"})
_READABLE: dict[Kind, Format] = {"pdf": "pdf", "docx": "docx", "html": "html", "text": "text"}

# The PDF spec lets a header follow up to 1 KiB of junk; readers (and pdfium) accept that.
_PDF_WINDOW = 1024
_SNIFF_BYTES = 65536
_MAX_CONTROL_RATIO = 0.05
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_LEADING_JUNK = re.compile(r"\A(?:\s+|<!--.*?-->|<\?xml[^>]*\?>)*", re.DOTALL)
_HTML_START = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>/]", re.IGNORECASE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAGIC_NAMES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
)
_ZIP_MEMBERS: tuple[tuple[str, str], ...] = (
    ("xl/workbook.xml", "a zip archive (an Excel workbook)"),
    ("ppt/presentation.xml", "a zip archive (a PowerPoint file)"),
    ("META-INF/container.xml", "a zip archive (an EPUB book)"),
)


@dataclass(frozen=True)
class Sniffed:
    """What the bytes look like, whatever the file is called."""

    kind: Kind
    looks_like: str  # phrase for messages: "a PDF", "plain text", "a zip archive"


@dataclass(frozen=True)
class Detected:
    """The format to read a file as; ``note`` says why when the extension disagreed."""

    format: Format
    note: str | None = None


def _refuse(name: str, what: str) -> InvalidDocumentError:
    return InvalidDocumentError(name, f"{what}; {ACCEPTED}")


def _sniff_zip(data: bytes) -> Sniffed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            types = zf.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
            mimetype = zf.read("mimetype")[:80] if "mimetype" in names else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError):
        return Sniffed("zip", "a damaged zip archive")
    # python-docx finds the main part through the package relationships, so a renamed main
    # part still opens; the content type is the reliable marker, document.xml the usual one.
    if types and ("word/document.xml" in names or b"wordprocessingml.document.main" in types):
        return Sniffed("docx", "a Word document")
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return Sniffed("zip", "a zip archive (an OpenDocument file; save it as .docx)")
    for member, phrase in _ZIP_MEMBERS:
        if member in names:
            return Sniffed("zip", phrase)
    return Sniffed("zip", "a zip archive")


def _sniff_text(data: bytes) -> Sniffed:
    head = data[:_SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        return Sniffed("binary", "binary data (contains NUL bytes; UTF-16 text also does)")
    # Incremental decoding: a multi-byte character cut by the 64 KiB window is not an error.
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(
            head, final=len(data) == len(head)
        )
    except UnicodeDecodeError:
        return Sniffed("binary", "binary data or text that is not UTF-8")
    if len(_CONTROL_CHARS.findall(text)) > _MAX_CONTROL_RATIO * max(len(text), 1):
        return Sniffed("binary", "binary data")
    if not text.strip():
        return Sniffed("empty", "a file with only whitespace")
    junk = _LEADING_JUNK.match(text)
    rest = text[junk.end() :] if junk else text
    if _HTML_START.match(rest):
        return Sniffed("html", "an HTML page")
    return Sniffed("text", "plain text")


def sniff(data: bytes) -> Sniffed:
    """Classify ``data`` by magic numbers and, failing those, as UTF-8 text or binary."""
    if not data:
        return Sniffed("empty", "an empty file")
    if b"%PDF-" in data[:_PDF_WINDOW]:
        return Sniffed("pdf", "a PDF")
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    if data.startswith(_OLE_MAGIC):
        return Sniffed("ole", "an encrypted Office file or a legacy .doc/.xls")
    for magic, phrase in _MAGIC_NAMES:
        if data.startswith(magic):
            return Sniffed("binary", phrase)
    return _sniff_text(data)


def detect_format(name: str, data: bytes) -> Detected:
    """The format to read ``data`` as, or ``InvalidDocumentError`` naming the file and why."""
    suffix = PurePath(name).suffix.lower()
    found = sniff(data)
    claimed = _CLAIMS.get(suffix)
    if claimed == "docx" and found.kind == "ole":
        # Word writes password-protected .docx files as OLE containers, like legacy .doc.
        raise _refuse(name, "encrypted or legacy .doc; save as .docx without a password")
    if found.kind not in _READABLE:
        if claimed is not None:
            raise _refuse(name, f"not {_NOUN[claimed]} (looks like {found.looks_like})")
        raise _refuse(name, f"unsupported file (looks like {found.looks_like})")
    detected = _READABLE[found.kind]
    if claimed is None:
        if suffix not in _GENERIC:
            raise _refuse(name, f"unsupported file type ({suffix})")
        shown = suffix or "no extension"
        return Detected(detected, f"read as {found.looks_like} by its content ({shown})")
    if claimed == detected:
        return Detected(detected)
    if claimed in _FAMILY_TEXT and detected in _FAMILY_TEXT:
        return Detected(claimed)
    raise _refuse(name, f"not {_NOUN[claimed]} (looks like {found.looks_like})")
