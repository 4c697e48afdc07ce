"""Title detection and boilerplate recognition that never changes the text or its offsets.

Boilerplate is returned as ``(start, end)`` spans of the original text; the text itself is left
alone so that every citation offset stays valid. Rules are generic (the shape of a line and a
few cue words), not a list of known strings:

- link-list headers ("Also Read:-", "Related:", "See also") and the bullet lines that follow;
- bare "read more"/"continue reading" prompts;
- engagement counters ("0 Comments", "12 shares", "Leave a comment");
- subscribe/newsletter/follow prompts ("Discover more from X", "Sign up for our newsletter");
- widget residue: short lines with hardly any words ("+ ↺ − 16 px", "A- A A+");
- a headline repeated several times (every copy), and other short lines repeated verbatim;
- bare site names or domains in the footer ("News.Az"), advertisement markers.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

from index.text.words import words

# Line breaks as str.splitlines() sees them, so a stray form feed or U+2028 cannot glue lines.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

_TERMINAL = ".!?…"
_CLOSERS = "\"'”’»)]"

# Cue words that make a short "Label:" line a pointer to other pages rather than content.
_LINK_LIST_HEADER = re.compile(
    r"""^\W*(?:
        (?:also|must|don'?t\s+miss|further)\s+read
      | read\s+(?:also|more|next|this|further)
      | (?:see|watch|listen)\s+also
      | related(?:\s+(?:articles?|stories|posts?|news|content|reading|links?|coverage))?
      | (?:more|other|latest|top|popular|trending|recommended|similar|suggested)
        (?:\s+(?:from|on|in)\s+[\w.\- ]{1,40}|\s+(?:news|stories|articles?|posts?|reads?|videos?))
      | (?:recommended|trending|popular)(?:\s+now)?
      | you\s+(?:may|might)\s+(?:also\s+)?(?:like|enjoy|be\s+interested\s+in)
      | continue\s+reading
      | what\s+to\s+read\s+next
      | in\s+case\s+you\s+missed\s+it
      | tags?
      | filed\s+under
      | share\s+(?:this|on)(?:\s+\w+)?
    )\s*(?:[:：\-–—>»|]+.*|\.{3}|…)?$""",
    re.IGNORECASE | re.VERBOSE,
)

_BULLET = re.compile(r"^\s*(?:[-*•·–—▪►»>+]|\d{1,2}[.)])\s+\S")

_COUNTER = re.compile(
    r"""^\W*(?:
        (?:\d[\d,.]*[kKmM]?|no|one|zero)\s+
        (?:comments?|responses?|replies|repl(?:y)|shares?|likes?|views?|reactions?|reads?)
        (?:\s+[^\W\d_]+){0,2}
      | (?:comments?|responses?|replies|shares?|likes?|views?)\s*[:(\[]?\s*\d[\d,.]*[kKmM]?\s*[)\]]?
      | (?:leave|post|add|write|view|show|load|see)\s+(?:a\s+|all\s+|the\s+|your\s+|more\s+)?
        (?:comments?|reply|responses?)
      | comments?\s+(?:are\s+)?(?:closed|disabled|off)
      | be\s+the\s+first\s+to\s+comment
      | \d+\s+min(?:ute)?s?\s+read
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)

_SUBSCRIBE = re.compile(
    r"""\b(?:
        subscribe\b | subscription\b | newsletters?\b | sign\s+up\b | unsubscribe\b
      | discover\s+more\s+from\b | more\s+from\s+\S+\.\w{2,}
      | follow\s+us\b | join\s+(?:us|our)\s+on\b | get\s+the\s+latest\b
      | sent\s+(?:straight\s+)?to\s+your\s+(?:e-?mail|inbox)\b | in\s+your\s+inbox\b
      | click\s+here\b | allow\s+notifications?\b | enable\s+javascript\b
      | cookies?\s+(?:policy|settings|consent)\b | accept\s+(?:all\s+)?cookies\b
      | all\s+rights\s+reserved\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_SITE_LABEL = re.compile(
    r"""\W*(?:
        (?:copyright|©).*
      | (?:advertisement|sponsored(?:\s+content)?|ad|skip\s+to\s+(?:main\s+)?content)\W*$
      | (?:photo|image|video|picture)\s*(?:credit)?s?\s*[:|].*
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# A domain-looking token alone on a line: "News.Az", "www.example.co.uk".
_DOMAIN_LINE = re.compile(r"^\W*(?:www\.)?[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,12}\W*$")

_MAX_PROMPT_WORDS = 20
_MAX_FOOTER_LINES = 2


def iter_lines(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Spans ``(s, e)`` of the lines of ``text[start:end]``, line-break characters excluded."""
    stop = len(text) if end is None else end
    pos = start
    for m in _LINE_BREAK.finditer(text, start, stop):
        yield pos, m.start()
        pos = m.end()
    yield pos, stop


def _strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _words(line: str) -> list[str]:
    """The letter words of ``line`` (numbers left out)."""
    return [w for w in words(line) if not w[0].isdigit()]


def _norm(line: str) -> str:
    line = unicodedata.normalize("NFKC", line).casefold()
    line = re.sub(r"^\s*#{1,6}\s+", "", line)
    return " ".join(re.findall(r"\w+", line))


def _ends_sentence(line: str) -> bool:
    stripped = line.rstrip().rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _TERMINAL


def looks_like_headline(line: str, max_words: int = 25) -> bool:
    """A short line with words that does not read like a running sentence (the one heading
    check: cleaning, chunking, re-ranking and answering use it)."""
    stripped = re.sub(r"^\s*#{1,6}\s+", "", line.strip())
    words = _words(stripped)
    if not (1 <= len(words) <= max_words) or len(stripped) > 200:
        return False
    if sum(len(w) for w in words) < 4:
        return False
    # Headlines end without a period; a question mark or exclamation is common in them.
    stripped = stripped.rstrip(_CLOSERS)
    return not stripped.endswith((".", ",", ";", ":"))


def _front_matter(text: str) -> tuple[int, int] | None:
    """Span of a leading YAML front-matter block (``---`` ... ``---``) as used in Markdown."""
    m = re.match(r"\A(?:\ufeff)?---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?=\r?\n|\Z)", text, re.S)
    return (m.start(), m.end()) if m else None


def _is_metadata_line(line: str) -> bool:
    """Bylines and datelines that sit above a headline ("By Jane Doe", "October 28, 2024")."""
    if _BYLINE.match(line):
        return True
    words = _words(line)
    digits = sum(ch.isdigit() for ch in line)
    return digits >= 2 and len(words) <= 4 and bool(_DATE_WORDS.search(line) or not words)


_BYLINE = re.compile(r"^\W*(?:by|posted\s+by|written\s+by|author:?)\s+\S.{0,60}$", re.I)
_DATE_WORDS = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\b|\b(?:updated|published)\b",
    re.I,
)
_TITLE_SCAN_LINES = 4


def detect_title(text: str) -> str:
    """The document's headline, or ``""`` when it has none.

    Markdown front matter ``title:`` wins, then a leading ``# Heading``, then the first line (after
    any byline or dateline) when it is short and does not end like a sentence.
    """
    body_start = 0
    fm = _front_matter(text)
    if fm is not None:
        m = re.search(r"^title:\s*(.+?)\s*$", text[fm[0] : fm[1]], re.M | re.I)
        if m:
            return m.group(1).strip("\"' ")
        body_start = fm[1]
    seen = 0
    for s, e in iter_lines(text, body_start):
        line = text[s:e].strip().lstrip("\ufeff").strip()
        if not line:
            continue
        seen += 1
        heading = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if heading:
            return heading.group(1).strip()
        if seen < _TITLE_SCAN_LINES and (_is_metadata_line(line) or _is_boilerplate_line(line)):
            continue
        if looks_like_headline(line) and len(_words(line)) >= 2:
            return line
        return ""
    return ""


def _is_widget_residue(line: str) -> bool:
    """Short lines made of symbols, numbers and letter scraps: font-size toggles, pagers, icons."""
    if len(line) > 40:
        return False
    if _PAGER.fullmatch(line):
        return True
    words = _words(line)
    if any(len(w) >= 4 for w in words):
        # "16 px" style size controls contain no long word, but "Print | Email | Share" does.
        return False
    if re.search(r"\d\s*(?:px|pt|em)\b", line, re.I):
        return True
    symbols = sum(1 for ch in line if not ch.isalnum() and not ch.isspace())
    alnum = sum(1 for ch in line if ch.isalnum())
    if symbols and len(line.split()) >= 2 and words and all(len(w) == 1 for w in words):
        return True  # "A- A A+" text-size toggles
    # Initialisms ("U.S.") and figures ("3,000.") carry letters or digits; residue is symbols.
    return symbols >= 2 and symbols > alnum


# "« 1 2 3 »", "1 | 2 | 3 Next": page numbers left over from a pager.
_PAGER = re.compile(r"\W*(?:\d{1,3}\W+){2,}\d{1,3}\W*(?:next|prev(?:ious)?|more)?\W*", re.I)


def _is_boilerplate_line(line: str) -> bool:
    """Rules that decide a line on its own, without looking at its neighbours."""
    stripped = line.strip()
    if not stripped:
        return False
    n_words = len(_words(stripped))
    if _COUNTER.match(stripped):
        return True
    if _LINK_LIST_HEADER.match(stripped) and n_words <= _MAX_PROMPT_WORDS:
        return True
    if n_words <= _MAX_PROMPT_WORDS and (
        _SITE_LABEL.match(stripped) or _SUBSCRIBE.search(stripped)
    ):
        return True
    return _is_widget_residue(stripped)


def find_boilerplate(text: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``(start, end)`` spans of non-article lines (whitespace trimmed)."""
    lines = [_strip_span(text, s, e) for s, e in iter_lines(text)]
    flagged = [False] * len(lines)

    fm = _front_matter(text)
    if fm is not None:
        for i, (s, e) in enumerate(lines):
            if s < e and fm[0] <= s and e <= fm[1]:
                flagged[i] = True

    in_link_list = False
    for i, (s, e) in enumerate(lines):
        line = text[s:e]
        if s == e:
            continue
        if _is_boilerplate_line(line):
            flagged[i] = True
            in_link_list = bool(_LINK_LIST_HEADER.match(line))
            continue
        if in_link_list and _BULLET.match(line) and len(_words(line)) <= 30:
            flagged[i] = True
            continue
        in_link_list = False

    _flag_repeated_lines(text, lines, flagged)
    _flag_footer(text, lines, flagged)
    return [lines[i] for i in range(len(lines)) if flagged[i]]


def _flag_repeated_lines(text: str, lines: list[tuple[int, int]], flagged: list[bool]) -> None:
    """Repeated headline-like lines are scraping artefacts (a title printed three times)."""
    # Only headline-length lines can count as repeated titles; skip normalising the rest.
    norms = [_norm(text[s:e]) if 0 < e - s <= 200 else "" for s, e in lines]
    counts = Counter(n for n in norms if n)
    first_content = next((i for i, n in enumerate(norms) if n and not flagged[i]), None)
    seen: set[str] = set()
    for i, n in enumerate(norms):
        if not n or counts[n] < 2 or not looks_like_headline(text[lines[i][0] : lines[i][1]]):
            continue
        is_title = first_content is not None and norms[first_content] == n
        # Every copy of a repeated title goes (the title lives in Document.title); other
        # repeated short lines keep their first occurrence.
        if is_title or n in seen:
            flagged[i] = True
        seen.add(n)


def _flag_footer(text: str, lines: list[tuple[int, int]], flagged: list[bool]) -> None:
    """Bare site names and domains trailing the article, after its last real paragraph."""
    first = next((i for i, (s, e) in enumerate(lines) if s < e), None)
    if first is None:
        return
    run: list[int] = []
    for i in range(len(lines) - 1, first, -1):
        s, e = lines[i]
        if s == e or flagged[i]:
            continue
        line = text[s:e]
        short_name = len(line) <= 40 and len(_words(line)) <= 4 and not _ends_sentence(line)
        if not (_DOMAIN_LINE.match(line) or (short_name and not any(c.isdigit() for c in line))):
            break
        run.append(i)
        if len(run) > _MAX_FOOTER_LINES:
            return  # a longer run of short lines is a list that belongs to the text
    for i in run:
        flagged[i] = True
