"""Reading documents from files, folders and uploads, with clear reasons for what is refused.

What ``Document.text`` holds, by format (every offset in the system points into it):

- ``.txt`` / ``.md``: the file's bytes decoded as UTF-8, exactly (no stripping, no newline
  normalisation, a BOM stays as U+FEFF). Markdown is not rendered; citations quote its source.
- ``.html`` / ``.htm``: the *visible text* extracted with BeautifulSoup (``html.parser``):
  scripts, styles, navigation, asides, forms and hidden elements are dropped, block elements
  become line breaks, runs of whitespace inside a block become one space, list items start with
  "- ". Raw markup is never quoted to a reader, so offsets index this extracted text, which is
  stored as the document's text. The title comes from the first ``<h1>``, else ``<title>``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from index.errors import InvalidDocumentError
from index.hashing import sha256_text
from index.ingestion.docx import extract_docx
from index.ingestion.html import extract_html
from index.ingestion.pdf import extract_pdf
from index.ingestion.sniff import ACCEPTED, Detected, detect_format, sniff
from index.models import Document, Skipped
from index.text.cleaning import detect_title, find_boilerplate, iter_lines

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
# What a folder walk picks up; an upload is recognised by its content (see ``sniff``).
SUPPORTED_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"})
_ACCEPTED = ACCEPTED
_TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm"})

# Share of control characters (other than tab/newline/CR/FF) above which decoded text is binary.
_MAX_CONTROL_RATIO = 0.05
# Unicode category Cc minus the whitespace controls that real text files contain.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _extension_reason(suffix: str) -> str:
    shown = suffix if suffix else "no extension"
    return f"unsupported file type ({shown}); {_ACCEPTED}"


def decode_document_bytes(name: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """UTF-8 text of ``data`` or ``InvalidDocumentError`` saying what is wrong with it."""
    if len(data) > max_bytes:
        raise InvalidDocumentError(
            name, f"file is {_human(len(data))}, over the {_human(max_bytes)} limit"
        )
    if not data:
        raise InvalidDocumentError(name, f"file is empty; {_ACCEPTED} with some text")
    if b"\x00" in data[:65536] or b"\x00" in data[-65536:]:
        raise InvalidDocumentError(
            name, f"looks like a binary file (contains NUL bytes; UTF-16 also does); {_ACCEPTED}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise InvalidDocumentError(
            name,
            f"not valid UTF-8 (byte 0x{bad} at offset {exc.start}); save it as UTF-8; {_ACCEPTED}",
        ) from exc
    controls = len(_CONTROL_CHARS.findall(text))
    if controls > _MAX_CONTROL_RATIO * len(text):
        raise InvalidDocumentError(
            name,
            f"looks like a binary file ({controls} control characters in {len(text)}); {_ACCEPTED}",
        )
    if not text.strip():
        raise InvalidDocumentError(name, f"file contains only whitespace; {_ACCEPTED} with text")
    return text


def _derived_id(text: str) -> str:
    return "doc_" + sha256_text(text)[:16]


def document_from_text(
    text: str,
    doc_id: str | None = None,
    title: str | None = None,
    source: str = "",
    published_at: str | None = None,
) -> Document:
    """A ``Document`` over ``text`` kept exactly as given, with title and boilerplate detected.

    The id defaults to a hash of the text. Without an explicit or detected headline, the title
    falls back to the opening words of the first sentence.
    """
    name = doc_id or "text"
    if not text or not text.strip():
        raise InvalidDocumentError(name, "document text is empty or only whitespace")
    boilerplate = tuple(find_boilerplate(text))
    detected = title if title is not None else detect_title(text)
    return Document(
        id=doc_id or _derived_id(text),
        text=text,
        title=(detected or _lead_title(text, boilerplate)).strip(),
        source=source,
        published_at=published_at,
        boilerplate=boilerplate,
    )


def _lead_title(text: str, boilerplate: Sequence[tuple[int, int]], max_chars: int = 80) -> str:
    """The opening words of the first non-boilerplate line, cut at a word boundary."""
    for s, e in iter_lines(text):
        line = text[s:e].strip()
        first_char = s + len(text[s:e]) - len(text[s:e].lstrip())
        if not line or any(bs <= first_char < be for bs, be in boilerplate):
            continue
        first = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
        if len(first) <= max_chars:
            return first.rstrip(".")
        cut = first[:max_chars].rsplit(" ", 1)[0]
        return cut.rstrip(",;: ") + "…"
    return ""


# --------------------------------------------------------------------------- HTML


def document_from_bytes(
    name: str,
    data: bytes,
    doc_id: str | None = None,
    title: str | None = None,
    source: str = "",
    published_at: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Document:
    """A ``Document`` from a file's bytes; the format comes from the content, the extension of
    ``name`` is only a hint (see :func:`~index.ingestion.sniff.detect_format`).

    Applies the same checks as ``load_paths`` and raises ``InvalidDocumentError(name, reason)``.
    The id defaults to ``name`` without its extension.
    """
    if len(data) > max_bytes:
        raise InvalidDocumentError(
            name, f"file is {_human(len(data))}, over the {_human(max_bytes)} limit"
        )
    if not data:
        raise InvalidDocumentError(name, f"file is empty; {_ACCEPTED} with some text")
    detected = _detect(name, data, max_bytes)
    stem = Path(name).stem
    if detected.format == "pdf":
        pdf = extract_pdf(name, data)
        doc = document_from_text(pdf.text, doc_id=doc_id or stem or None, title=title or pdf.title)
        return replace(
            doc,
            source=source,
            published_at=published_at,
            pages=pdf.pages,
            boilerplate=_merge_spans(doc.boilerplate, pdf.boilerplate),
            format="pdf",
        )
    if detected.format == "docx":
        docx = extract_docx(name, data)
        doc = document_from_text(
            docx.text, doc_id=doc_id or stem or None, title=title or docx.title
        )
        return replace(
            doc, source=source, published_at=published_at, sections=docx.sections, format="docx"
        )
    text = decode_document_bytes(name, data, max_bytes)
    doc_id = doc_id or stem or _derived_id(text)
    if detected.format == "html":
        page = extract_html(text)
        if not page.text.strip():
            raise InvalidDocumentError(name, "HTML page has no visible text")
        doc = document_from_text(
            page.text,
            doc_id=doc_id,
            title=title if title is not None else (page.title or None),
            source=source,
            published_at=published_at or page.published_at,
        )
        return replace(doc, format="html")
    return document_from_text(
        text, doc_id=doc_id, title=title, source=source, published_at=published_at
    )


def _detect(name: str, data: bytes, max_bytes: int) -> Detected:
    try:
        return detect_format(name, data)
    except InvalidDocumentError:
        if Path(name).suffix.lower() in _TEXT_SUFFIXES and sniff(data).kind == "binary":
            # Text that is not UTF-8: the decoder's reason names the byte and its offset.
            decode_document_bytes(name, data, max_bytes)
        raise


def _merge_spans(*groups: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted({span for group in groups for span in group}))


def _walk_folder(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return found


def load_paths(
    paths: Sequence[Path], max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[Document], list[Skipped]]:
    """Documents from files and folders (walked recursively, hidden entries ignored).

    Every file that cannot be used is reported as ``Skipped(path, reason)`` and the rest still
    load. Document id = file name without extension; a second file with the same id is skipped.
    """
    docs: list[Document] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(_walk_folder(path))
        elif path.exists():
            files.append(path)
        else:
            skipped.append(Skipped(str(path), "no such file or folder"))
    visited: set[Path] = set()
    for path in files:
        shown = str(path)
        resolved = path.resolve()
        if resolved in visited:
            continue  # named twice (a folder and a file inside it): read once, say nothing
        visited.add(resolved)
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_EXTENSIONS:
            skipped.append(Skipped(shown, _extension_reason(suffix)))
            continue
        if path.stem in seen:
            skipped.append(
                Skipped(
                    shown, f"duplicate document id {path.stem!r} (already read {seen[path.stem]})"
                )
            )
            continue
        try:
            if not path.is_file():
                skipped.append(Skipped(shown, "not a regular file"))
                continue
            size = path.stat().st_size
            if size > max_bytes:
                skipped.append(
                    Skipped(shown, f"file is {_human(size)}, over the {_human(max_bytes)} limit")
                )
                continue
            data = path.read_bytes()
        except OSError as exc:
            skipped.append(Skipped(shown, f"could not be read ({exc.strerror or exc})"))
            continue
        try:
            doc = document_from_bytes(path.name, data, source=shown, max_bytes=max_bytes)
        except InvalidDocumentError as exc:
            skipped.append(Skipped(shown, exc.reason))
            continue
        seen[doc.id] = shown
        docs.append(doc)
    for s in skipped:
        logger.warning("skipped %s: %s", s.path, s.reason)
    logger.info("loaded %d documents, skipped %d", len(docs), len(skipped))
    return docs, skipped
