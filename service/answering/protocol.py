"""What answering needs of an index, and what every adapter needs of answering.

``Answerer`` is the one entry point adapters call (HTTP, Slack, CLI, eval); ``AnswerPipeline``
implements it, and so do the fakes in tests and the remote client of a running service.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from index.models import Document, Hit
from service.answering.conversation import Turn
from service.answering.types import Answer, StreamEvent


class SearchableIndex(Protocol):
    """What the pipeline needs from an index (``index.corpus.CorpusIndex`` provides it)."""

    @property
    def version(self) -> str: ...

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: Literal["hybrid", "dense", "bm25"] = "hybrid",
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]: ...

    def get_document(self, doc_id: str) -> Document: ...


class AnsweringIndex(SearchableIndex, Protocol):
    """A searchable index that also lends the default answerer its vectors."""

    def query_vector(self, text: str) -> np.ndarray: ...

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray: ...


class Answerer(Protocol):
    """Answers a question from the documents, with verified citations; ``history`` holds the
    conversation's earlier turns, oldest first (a follow-up is rewritten against them)."""

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer: ...


@runtime_checkable
class StreamingAnswerer(Answerer, Protocol):
    """An answerer that can also yield each verified sentence as soon as it is ready."""

    def answer_stream(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[StreamEvent]: ...
