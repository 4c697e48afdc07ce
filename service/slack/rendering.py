"""Slack text handling: reading questions out of Slack markup and rendering answers as Block Kit.

Everything that comes from documents or the language model is untrusted: it is escaped for Slack
(``&``, ``<``, ``>``) and broadcast words (``@here``, ``@channel``, ``@everyone``) get a zero-width
space so Slack never turns them into notifications. Escaping ``<`` already disarms ``<!here>``,
``<@U123>`` and ``<#C123>``: Slack only parses them when the angle brackets are literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from service.answering.types import Answer, Citation

# Slack's documented limits.
MAX_SECTION_CHARS = 3000
MAX_BLOCKS = 50
MAX_TEXT_CHARS = 40000
MAX_BUTTON_VALUE_CHARS = 2000

# Shorter than Slack allows, so one source never swamps the answer it supports.
MAX_QUOTE_CHARS = 600
MAX_ANSWER_SECTIONS = 10

ACTION_HELPFUL = "citeqa_feedback_helpful"
ACTION_NOT_HELPFUL = "citeqa_feedback_not_helpful"

WORKING_TEXT = "Searching the documents…"
USAGE_TEXT = (
    "Ask me a question about the documents, for example "
    "`@citeqa How many North Korean troops are in Russia?` or `/ask How many …?`"
)
FRIENDLY_ERROR_TEXT = (
    "Sorry, something went wrong while answering. Please try again in a minute; "
    "the details are in the service log."
)
THANKS_TEXT = "Thanks for the feedback!"

ZWSP = "\u200b"
_BROADCAST_RE = re.compile(r"@(here|channel|everyone)", re.IGNORECASE)
_ENTITY_TAIL_RE = re.compile(r"&[a-z]{0,4}$")
_WHITESPACE_RE = re.compile(r"\s+")
# Slack's markup in incoming text: <@U123>, <@U123|name>, <#C123|name>, <!here>, <url|label>.
_SLACK_TOKEN_RE = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class SlackMessage:
    """A message ready for chat.postMessage / chat.update / response_url: fallback text + blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def escape_text(text: str) -> str:
    """Escapes untrusted text for Slack mrkdwn and neutralises broadcast mentions."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_RE.sub(lambda m: "@" + ZWSP + m.group(1), escaped)


def truncate(text: str, limit: int) -> str:
    """Cuts ``text`` to at most ``limit`` characters, ending with "…" when it had to cut.

    Never leaves half of an HTML entity such as ``&amp;`` at the end.
    """
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    cut = _ENTITY_TAIL_RE.sub("", cut).rstrip()
    return cut + "…"


def split_text(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Splits ``text`` into pieces of at most ``limit`` chars, preferring line and word breaks."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        # Do not split an entity such as &amp; across two blocks.
        amp = window.rfind("&", 0, cut)
        if amp != -1 and ";" not in window[amp:cut] and cut - amp < 6:
            cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def question_from_slack(text: str, bot_user_id: str | None = None) -> str:
    """Slack message markup to a plain question: drops the bot's mention, keeps link labels."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = target[1:]
            if bot_user_id is not None and user == bot_user_id:
                return ""
            return "@" + (label or user)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label if label.startswith("@") else "@" + (label or target[1:].split("^")[0])
        return label or target

    plain = _SLACK_TOKEN_RE.sub(replace, text)
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _WHITESPACE_RE.sub(" ", plain).strip()


def answer_from_slack(text: str) -> str | None:
    """The answer text of one of the bot's own messages (its fallback text), None for its
    placeholders and notices, which answered nothing."""
    plain = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
    if not plain or plain in (WORKING_TEXT, FRIENDLY_ERROR_TEXT, USAGE_TEXT):
        return None
    return plain.replace(ZWSP, "")


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)},
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


def _source_text(citation: Citation) -> str:
    title = escape_text(citation.title.strip() or citation.doc_id)
    quote = escape_text(truncate(_WHITESPACE_RE.sub(" ", citation.quote).strip(), MAX_QUOTE_CHARS))
    doc_id = escape_text(citation.doc_id).replace("`", "'")
    page = f"  ·  {citation.pages_label}" if citation.pages_label else ""
    return f"*[{citation.id}]* *{title}*  ·  `{doc_id}`{page}\n>{quote}"


def _feedback_actions(value: str) -> dict[str, Any]:
    value = value[:MAX_BUTTON_VALUE_CHARS]
    return {
        "type": "actions",
        "block_id": "citeqa_feedback",
        "elements": [
            {
                "type": "button",
                "action_id": ACTION_HELPFUL,
                "text": {"type": "plain_text", "text": ":thumbsup: Helpful", "emoji": True},
                "value": value,
            },
            {
                "type": "button",
                "action_id": ACTION_NOT_HELPFUL,
                "text": {"type": "plain_text", "text": ":thumbsdown: Not helpful", "emoji": True},
                "value": value,
            },
        ],
    }


def _conflicts_text(answer: Answer) -> str:
    lines = ["*The sources disagree*"]
    for conflict in answer.conflicts:
        values = ", ".join(
            f"{escape_text(v.value)} [{v.citation}]"
            + (f" ({escape_text(v.attribution)})" if v.attribution else "")
            for v in conflict.values
        )
        lines.append(f"• {escape_text(conflict.topic)}: {values}")
    return "\n".join(lines)


def abstention_text(answer: Answer) -> str:
    """The plain reason shown for an abstention (unescaped)."""
    reason = (answer.abstain_reason or "").strip() or answer.answer.strip()
    return reason or "no passage in the documents answers this question"


def render_answer(
    answer: Answer, *, question: str | None = None, feedback_value: str | None = None
) -> SlackMessage:
    """Block Kit for an answer: text with [n] markers, notices, sources, feedback buttons.

    ``question`` (plain text) is shown above the answer, for replies that do not sit under it
    (slash commands). Stays within Slack's limits on block count and text length.
    """
    head: list[dict[str, Any]] = []
    if question:
        head.append(_context(f"*Question:* {escape_text(truncate(question, 2000))}"))

    if answer.abstained:
        reason = escape_text(abstention_text(answer))
        head.append(_section(f":no_entry_sign: *Not in the documents:* {reason}"))
        fallback = f"Not in the documents: {reason}"
    else:
        body = escape_text(answer.answer.strip()) or "_(empty answer)_"
        # A runaway answer must not crowd out the sources and buttons.
        body = truncate(body, MAX_ANSWER_SECTIONS * (MAX_SECTION_CHARS - 100))
        head.extend(_section(piece) for piece in split_text(body))
        fallback = body
    if answer.retrieval_query:
        # A follow-up was rewritten from the thread: show what was actually searched.
        searched = escape_text(truncate(answer.retrieval_query, 2000))
        head.append(_context(f":mag: *Searched for:* {searched}"))
    if answer.degraded:
        why = escape_text(answer.degraded_reason or "a fallback was used")
        head.append(_context(f":warning: *Degraded answer:* {why}"))
    if answer.conflicts and not answer.abstained:
        head.append(_section(_conflicts_text(answer)))

    tail: list[dict[str, Any]] = []
    footer = [f"model `{escape_text(answer.model)}`"] if answer.model else []
    if answer.index_version:
        footer.append(f"index `{escape_text(answer.index_version)}`")
    if footer:
        tail.append(_context("  ·  ".join(footer)))
    if feedback_value is not None:
        tail.append(_feedback_actions(feedback_value))

    sources: list[dict[str, Any]] = []
    citations = list(answer.citations)
    if citations:
        sources.append({"type": "divider"})
        sources.append(_section("*Sources*"))
        room = MAX_BLOCKS - len(head) - len(tail) - len(sources)
        # Keep one block for the "and N more" line when not everything fits.
        shown = citations if len(citations) <= room else citations[: max(room - 1, 0)]
        sources.extend(_section(_source_text(c)) for c in shown)
        if len(shown) < len(citations):
            sources.append(_context(f"…and {len(citations) - len(shown)} more sources"))

    blocks = (head + sources + tail)[:MAX_BLOCKS]
    return SlackMessage(text=truncate(fallback, MAX_TEXT_CHARS), blocks=blocks)


def render_notice(text: str) -> SlackMessage:
    """A short message of our own (usage, errors); ``text`` is trusted mrkdwn."""
    return SlackMessage(text=truncate(text, MAX_TEXT_CHARS), blocks=[_section(text)])
