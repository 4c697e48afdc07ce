"""The LLM condense step: a follow-up rewritten into a standalone question by any litellm model.

It renders the ``condense`` prompt (the conversation as delimited data) and reads one line back;
a reply that is empty or several lines is a :class:`GenerationError`, on which
:class:`~service.answering.conversation.FallbackRewriter` uses the deterministic rules instead.

Example::

    rewriter = LiteLLMRewriter(LiteLLMGenerator("openai/gpt-4o-mini", max_tokens=120))
    rewriter.rewrite("When was it signed?", [Turn("Who signed the pact?", "Kim and Putin [1].")])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from index.errors import GenerationError
from prompts import Prompt, load_prompt
from service.answering.conversation import Turn
from service.answering.generators.litellm_generator import Message

# Earlier answers are context, not evidence: a few sentences of each are enough.
MAX_ANSWER_CHARS = 1200
_MARKER_RE = re.compile(r"\s*\[\d+\]")
_LABEL_RE = re.compile(r"^(?:standalone\s+)?question\s*:\s*", re.IGNORECASE)


class Completer(Protocol):
    """What the rewriter needs of :class:`LiteLLMGenerator`: one completion of some messages."""

    @property
    def model(self) -> str: ...

    def complete(self, messages: Sequence[Message], model: str, timeout_s: float | None) -> str: ...


class LiteLLMRewriter:
    """Asks the configured LLM for the standalone form of a follow-up."""

    def __init__(
        self, llm: Completer, *, timeout_s: float | None = None, prompt_name: str = "condense"
    ) -> None:
        self.llm = llm
        self.timeout_s = timeout_s
        self.prompt: Prompt = load_prompt(prompt_name)
        self.system_prompt: Prompt = load_prompt(f"{prompt_name}_system")

    def messages(self, question: str, history: Sequence[Turn]) -> list[Message]:
        user = self.prompt.render(history=format_history(history), question=_inert(question))
        return [
            {"role": "system", "content": self.system_prompt.text},
            {"role": "user", "content": user},
        ]

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        if not history:
            return None
        reply = self.llm.complete(self.messages(question, history), self.llm.model, self.timeout_s)
        return parse_rewrite(reply, question)


def format_history(history: Sequence[Turn]) -> str:
    """The earlier turns as numbered blocks, answers without their markers, all text inert."""
    blocks = []
    for n, turn in enumerate(history, start=1):
        answer = _MARKER_RE.sub("", turn.answer).strip()[:MAX_ANSWER_CHARS]
        blocks.append(f"<turn n={n}>\nQ: {_inert(turn.question)}\nA: {_inert(answer)}\n</turn>")
    return "\n".join(blocks)


def parse_rewrite(reply: str, question: str) -> str | None:
    """The standalone question in ``reply``; None when it is the question unchanged."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        raise GenerationError(f"the rewrite is {len(lines)} lines, expected one question")
    text = _LABEL_RE.sub("", lines[0]).strip().strip("\"'“”")
    if not text:
        raise GenerationError("the rewrite is empty")
    if " ".join(text.split()).casefold() == " ".join(question.split()).casefold():
        return None
    return text


def _inert(text: str) -> str:
    """No text can open or close a block of the prompt."""
    return text.replace("<", "‹").replace(">", "›")
