"""The structured reply format: JSON that names, per answer sentence, its source and its quote.

Servers that support ``response_format`` with a JSON schema (llama.cpp enforces it with a
grammar; OpenAI with structured outputs) are asked for::

    {"found": true, "sentences": [{"source": 2, "quote": "...", "text": "..."}]}

``parse_json_reply`` reads a whole reply; :class:`JsonSentenceStream` reads the sentences of a
reply that is still arriving, each as soon as its object is complete (keys in schema order).
Anything else the model writes is left to the marker parser (:mod:`.llm_format`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from service.answering.evidence import Draft, DraftSentence, Quote, draft_sentence

MAX_SENTENCES = 3
# A short quote is enough to find the sentence it comes from (the citation is that sentence),
# and every quoted character costs generation time.
QUOTE_MAX_CHARS = 120

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "found": {"type": "boolean"},
        "sentences": {
            "type": "array",
            "maxItems": MAX_SENTENCES,
            "items": {
                "type": "object",
                "properties": {
                    "source": {"type": "integer", "minimum": 1},
                    "quote": {"type": "string", "maxLength": QUOTE_MAX_CHARS},
                    "text": {"type": "string", "maxLength": 300},
                },
                "required": ["source", "quote", "text"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["found", "sentences"],
    "additionalProperties": False,
}

RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "cited_answer", "schema": SCHEMA, "strict": True},
}

_SENTENCES_RE = re.compile(r'"sentences"\s*:\s*\[')
_decoder = json.JSONDecoder()


class NotJsonError(ValueError):
    """The reply is not the JSON object asked for."""


def looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] == "{"


def parse_json_reply(text: str) -> Draft:
    """The whole JSON reply as a draft; :class:`NotJsonError` when it is not that object."""
    try:
        data = json.loads(_strip_fence(text))
    except json.JSONDecodeError as exc:
        raise NotJsonError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
        raise NotJsonError("the JSON has no sentences list")
    pairs = [_sentence(item) for item in data["sentences"]]
    usable = [p for p in pairs if p is not None]
    if not usable:
        if data.get("found") is False or not data["sentences"]:
            return Draft(abstained=True, sentences=(), quotes=(), reason=None)
        raise NotJsonError("the JSON sentences have no text")
    return Draft(
        abstained=False,
        sentences=tuple(s for s, _q in usable),
        quotes=tuple(q for _s, q in usable if q is not None),
    )


def refused(text: str) -> bool | None:
    """Whether a JSON reply says the sources do not answer (``None``: not a JSON reply)."""
    try:
        draft = parse_json_reply(text)
    except NotJsonError:
        return None
    return draft.abstained


class JsonSentenceStream:
    """Feeds reply text as it arrives; ``feed`` returns the sentences completed by it."""

    def __init__(self) -> None:
        self.text = ""
        self._pos: int | None = None

    def feed(self, delta: str) -> list[tuple[DraftSentence, Quote | None]]:
        self.text += delta
        if self._pos is None:
            m = _SENTENCES_RE.search(self.text)
            if m is None:
                return []
            self._pos = m.end()
        out: list[tuple[DraftSentence, Quote | None]] = []
        while True:
            pos = self._skip(self._pos)
            if pos >= len(self.text) or self.text[pos] != "{":
                return out
            try:
                item, end = _decoder.raw_decode(self.text, pos)
            except json.JSONDecodeError:
                return out  # the object is not complete yet
            self._pos = end
            pair = _sentence(item)
            if pair is not None:
                out.append(pair)

    def _skip(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in " \t\r\n,":
            pos += 1
        return pos


def _sentence(item: object) -> tuple[DraftSentence, Quote | None] | None:
    if not isinstance(item, Mapping):
        return None
    text = " ".join(str(item.get("text") or "").split())
    if not text.strip(" ."):
        return None
    source = item.get("source")
    n = source if isinstance(source, int) and not isinstance(source, bool) else None
    quote_text = " ".join(str(item.get("quote") or "").split())
    if n is None:
        return draft_sentence(text), None
    body = text.rstrip()
    end = body[-1] if body[-1:] in ".!?" else "."
    sentence = draft_sentence(f"{body.rstrip('.!?')} [{n}]{end}")
    return sentence, (Quote(n, quote_text) if quote_text else None)


def _strip_fence(text: str) -> str:
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rsplit("```", 1)[0]
    return t.strip()
