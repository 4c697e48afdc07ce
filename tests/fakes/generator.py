"""``FakeGenerator``: the fake ``Generator`` (and ``StreamingGenerator``), replaying queued
replies as an LLM would write them, parsed by the real reply parser."""

from __future__ import annotations

from collections.abc import Iterator

from service.answering.generators.litellm_generator import parse_reply
from service.answering.generators.llm_json import JsonSentenceStream
from service.answering.generators.protocol import (
    Generation,
    GenerationRequest,
    StreamedSentence,
)


class FakeGenerator:
    """Replies with the given texts in order; the stream cuts each reply into
    ``piece``-character deltas, as a server streaming tokens would."""

    def __init__(self, *replies: str, model: str = "fake/llm", piece: int = 7) -> None:
        self.replies = list(replies)
        self._model = model
        self.piece = piece
        self.requests: list[GenerationRequest] = []

    @property
    def model(self) -> str:
        return self._model

    def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        text = self.replies.pop(0)
        return Generation(
            draft=parse_reply(text), model=self._model, generator="llm", raw_text=text
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamedSentence | Generation]:
        self.requests.append(request)
        text = self.replies.pop(0)
        parser = JsonSentenceStream()
        for i in range(0, len(text), self.piece):
            for sentence, quote in parser.feed(text[i : i + self.piece]):
                yield StreamedSentence(sentence, (quote,) if quote else ())
        yield Generation(draft=parse_reply(text), model=self._model, generator="llm", raw_text=text)
