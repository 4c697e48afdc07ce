"""The fake ``Completer`` (``service/answering/generators/litellm_rewriter.py``): the LLM of the
condense step, replaying queued replies."""

from __future__ import annotations

from typing import Any


class FakeCompleter:
    """Stands in for the LLM: replays ``replies`` (an Exception is raised) and records prompts."""

    model = "fake/condense"

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    def complete(self, messages: Any, model: str, timeout_s: float | None) -> str:
        self.prompts.append(messages[-1]["content"])
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply
