"""Server-Sent Events framing and the event sequence of a streamed answer.

``POST /ask`` with ``"stream": true`` (or ``Accept: text/event-stream``) sends::

    event: delta       data: {"text": "North Korea sent "}        (repeated)
    event: citations   data: {"citations": [...], "conflicts": [...]}
    event: done        data: <the full Answer.to_dict()>

The answer is complete (and verified) before the first byte, so failures are ordinary HTTP errors.
With an LLM, :func:`streamed_events` sends each sentence as soon as it is complete and verified
instead (``delta`` with its text, then ``sentence`` with the text and the citations it
introduces); a sentence that fails verification is never sent, and ``done`` still carries the
whole answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from service.answering.types import Answer, StreamEvent

SSE_MEDIA_TYPE = "text/event-stream"
# Proxies must not buffer or cache an event stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_PIECE_RE = re.compile(r"\S+\s*|\s+")


def sse_event(event: str | None, data: Any) -> str:
    """One SSE frame; ``data`` is JSON-encoded (a plain string is sent verbatim)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    lines = [f"event: {event}"] if event else []
    lines.extend(f"data: {line}" for line in payload.split("\n"))
    return "\n".join(lines) + "\n\n"


def split_deltas(text: str, words_per_delta: int = 4) -> list[str]:
    """Cuts text into small pieces that concatenate back to exactly ``text``."""
    pieces = _PIECE_RE.findall(text)
    return [
        "".join(pieces[i : i + words_per_delta]) for i in range(0, len(pieces), words_per_delta)
    ]


def answer_events(answer: Answer) -> Iterator[str]:
    """The SSE frames of an answer that has already been computed."""
    for piece in split_deltas(answer.answer):
        yield sse_event("delta", {"text": piece})
    data = answer.to_dict()
    yield sse_event("citations", {"citations": data["citations"], "conflicts": data["conflicts"]})
    yield sse_event("done", data)


def streamed_events(events: Iterator[StreamEvent]) -> Iterator[str]:
    """The SSE frames of a verified sentence stream (see the module docstring)."""
    first = True
    for event in events:
        if event.answer is not None:
            data = event.answer.to_dict()
            yield sse_event(
                "citations", {"citations": data["citations"], "conflicts": data["conflicts"]}
            )
            yield sse_event("done", data)
            return
        text = event.text if first else f" {event.text}"
        first = False
        yield sse_event("delta", {"text": text})
        yield sse_event(
            "sentence",
            {"text": event.text, "citations": [asdict(c) for c in event.citations]},
        )
