"""Visible text of an HTML page (BeautifulSoup): block elements become line breaks, scripts,
styles, navigation and hidden elements are dropped. The text returned becomes ``Document.text``,
so every offset points into it."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bs4 import BeautifulSoup
from bs4.element import Comment, Doctype, NavigableString, ProcessingInstruction, Tag

logger = logging.getLogger(__name__)

_DROP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "svg",
        "canvas",
        "iframe",
        "object",
        "embed",
        "nav",
        "aside",
        "footer",
        "form",
        "button",
        "select",
        "input",
        "textarea",
        "meta",
        "link",
        "map",
        "audio",
        "video",
        "picture",
        "dialog",
    }
)
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "html",
    }
)


def _hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(tag.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


class _TextBuilder:
    """Collects visible text as lines; block boundaries end the current line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []

    def text(self, s: str) -> None:
        self.current.append(s)

    def newline(self) -> None:
        line = re.sub(r"[ \t\r\n\f\v]+", " ", "".join(self.current)).strip()
        if line:
            self.lines.append(line)
        self.current = []

    def raw_lines(self, s: str) -> None:
        self.newline()
        self.lines.extend(ln.rstrip() for ln in s.splitlines() if ln.strip())


def _walk(node: Tag, out: _TextBuilder) -> None:
    for child in node.children:
        if isinstance(child, Comment | Doctype | ProcessingInstruction):
            continue
        if isinstance(child, NavigableString):
            out.text(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in _DROP_TAGS or _hidden(child):
            continue
        if name == "br":
            out.newline()
            continue
        if name == "pre":
            out.raw_lines(child.get_text())
            continue
        block = name in _BLOCK_TAGS
        if block:
            out.newline()
        if name == "li":
            out.text("- ")
        _walk(child, out)
        if block:
            out.newline()
        elif name in {"td", "th"}:
            out.text(" ")


def html_to_text(html: str) -> tuple[str, str, str | None]:
    """``(visible_text, title, published_at)`` of an HTML page."""
    soup = BeautifulSoup(html, "html.parser")
    title = ""
    h1 = soup.find("h1")
    if isinstance(h1, Tag):
        title = " ".join(h1.get_text(" ").split())
    if not title and isinstance(soup.title, Tag):
        raw = " ".join(soup.title.get_text(" ").split())
        # "Headline | Site" / "Headline - Site": the longest part is the headline.
        title = max(re.split(r"\s+[|–—-]\s+", raw), key=len) if raw else ""
    published: str | None = None
    for key in ("article:published_time", "datePublished", "pubdate", "date"):
        meta = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
        if isinstance(meta, Tag) and meta.get("content"):
            published = str(meta["content"]).strip()
            break
    out = _TextBuilder()
    _walk(soup, out)
    out.newline()
    return "\n".join(out.lines), title, published


# --------------------------------------------------------------------------- entry points


@dataclass(frozen=True)
class HtmlPage:
    """What an HTML page says: its article text (``Document.text``), title and date."""

    text: str
    title: str
    published_at: str | None


def extract_html(html: str) -> HtmlPage:
    """The article of a page: trafilatura's main-text extraction (comments left out, tables
    kept), which measured far less boilerplate than the tag walk on news pages with navigation,
    related links and comment sections; the tag walk answers when trafilatura finds nothing.
    Title and date come from the page's own markup when it has them."""
    visible, title, published = html_to_text(html)
    try:
        import trafilatura

        found = trafilatura.bare_extraction(
            html, include_comments=False, include_tables=True, with_metadata=True
        )
    except Exception:  # a parser failure on odd markup: fall back, never fail the ingest
        logger.warning("trafilatura could not read the page; using the tag walk", exc_info=True)
        found = None
    text = str(getattr(found, "text", None) or "").strip()
    if not text:
        return HtmlPage(visible, title, published)
    date = getattr(found, "date", None)
    return HtmlPage(
        text=text,
        title=title or str(getattr(found, "title", "") or ""),
        published_at=published or (str(date) if date else None),
    )
