"""The answering pipeline: retrieve -> prompt -> generate -> verify citations.

``AnswerPipeline.answer(question)`` is the one entry point adapters call (HTTP, Slack, CLI, eval).
Generation always goes through litellm (see :mod:`service.generators`); when the configured model
fails (timeout, provider error, unparseable reply) the optional fallback model is tried, then the
extractive generator answers and the result says so (``degraded=True``) within the deadline.

Example::

    pipeline = AnswerPipeline(index, LiteLLMGenerator("extractive"))
    answer = pipeline.answer("How many North Korean troops are in Russia?")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from index.errors import GenerationError, InvalidQueryError
from index.models import Document, Hit
from prompts import Prompt, load_prompt, short_hash
from service.answer import Answer, Citation, RetrievedChunk
from service.citations import (
    ParsedOutput,
    Source,
    format_question,
    format_sources,
    parse_output,
)
from service.conflicts import find_conflicts
from service.generators import EXTRACTIVE_MODEL, Generator, Message, is_extractive, normalize_model
from service.question import analyze_question
from service.verification import VerifiedAnswer, verify_output

if TYPE_CHECKING:
    from service.settings import Settings

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50
# Candidates retrieved for "how many" questions, whatever top_k asks (see AnswerPipeline.answer).
COUNT_TOP_K = 10
ABSTAIN_TEXT = "The indexed documents do not answer this question."


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


class Answerer(Protocol):
    """What adapters need of :class:`AnswerPipeline` (fakes in tests satisfy it too)."""

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> Answer: ...


@dataclass(frozen=True)
class AnswerEvent:
    """One streaming event: ``delta`` text, then ``citations``, then the final ``answer``."""

    kind: Literal["delta", "citations", "answer"]
    text: str = ""
    citations: tuple[Citation, ...] = ()
    answer: Answer | None = None


@dataclass(frozen=True)
class _Generated:
    parsed: ParsedOutput
    model: str
    degraded: bool
    degraded_reason: str | None


class AnswerPipeline:
    """Answers questions from an index with verified, span-exact citations."""

    def __init__(
        self,
        index: SearchableIndex,
        generator: Generator,
        prompt_name: str = "answer",
        default_top_k: int = 5,
        retrieval: Literal["hybrid", "dense", "bm25"] = "hybrid",
        *,
        fallback_model: str | None = None,
        deadline_s: float = 45.0,
    ) -> None:
        self.index = index
        self.generator = generator
        self.prompt: Prompt = load_prompt(prompt_name)
        self.system_prompt: Prompt = load_prompt(f"{prompt_name}_system")
        self.prompt_version = short_hash(self.system_prompt.text, self.prompt.text)
        self.default_top_k = default_top_k
        self.retrieval = retrieval
        self.fallback_model = normalize_model(fallback_model) if fallback_model else None
        self.deadline_s = deadline_s

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> Answer:
        """Retrieves, generates and verifies; never returns an unverified citation."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        q = validate_question(question)
        k = self._top_k(top_k)

        if analyze_question(q).qtype == "count":
            # Sources disagree on figures: look wider so every article's figure can be reported.
            k = min(max(k, COUNT_TOP_K), MAX_TOP_K)
        t = time.perf_counter()
        hits = self.index.search(q, top_k=k, mode=self.retrieval, filters=filters)
        sources, documents = self._sources(hits)
        timings["retrieve"] = _ms(t)
        retrieved = tuple(
            RetrievedChunk(chunk_id=h.chunk.id, doc_id=h.chunk.doc_id, score=float(h.score))
            for h in hits
        )
        index_version = str(self.index.version)
        chosen_model = normalize_model(model or self.generator.model)

        t = time.perf_counter()
        messages = self.messages(q, sources)
        timings["prompt"] = _ms(t)

        if not sources:
            timings["generate"] = 0.0
            timings["verify"] = 0.0
            timings["total"] = _ms(started)
            return Answer(
                answer=ABSTAIN_TEXT,
                abstained=True,
                abstain_reason="no passage was retrieved for this question",
                model=chosen_model,
                prompt_version=self.prompt_version,
                index_version=index_version,
                retrieved=retrieved,
                timings_ms=timings,
            )

        t = time.perf_counter()
        gen = self._generate(messages, chosen_model, started)
        timings["generate"] = _ms(t)

        t = time.perf_counter()
        verified = verify_output(gen.parsed, sources, documents)
        verified = _final_check(verified, documents)
        conflicts = (
            find_conflicts(analyze_question(q), verified.citations)
            if not verified.abstained
            else ()
        )
        timings["verify"] = _ms(t)
        timings["total"] = _ms(started)
        return Answer(
            answer=verified.answer if not verified.abstained else ABSTAIN_TEXT,
            abstained=verified.abstained,
            citations=verified.citations,
            sentences=verified.sentences,
            conflicts=conflicts,
            abstain_reason=verified.abstain_reason,
            model=gen.model,
            prompt_version=self.prompt_version,
            index_version=index_version,
            retrieved=retrieved,
            timings_ms=timings,
            degraded=gen.degraded,
            degraded_reason=gen.degraded_reason,
        )

    def stream(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> Iterator[AnswerEvent]:
        """Yields the verified answer text in word-sized deltas, then citations, then the Answer.

        Text is only released after verification, so a client never shows an unverified claim.
        """
        result = self.answer(question, top_k=top_k, filters=filters, model=model)
        words = result.answer.split(" ")
        for i, word in enumerate(words):
            yield AnswerEvent(kind="delta", text=word if i == 0 else " " + word)
        yield AnswerEvent(kind="citations", citations=result.citations)
        yield AnswerEvent(kind="answer", answer=result)

    def messages(self, question: str, sources: Sequence[Source]) -> list[Message]:
        """The chat messages for ``question`` over ``sources`` (system rules + delimited data)."""
        user = self.prompt.render(
            sources=format_sources(sources), question=format_question(question)
        )
        return [
            {"role": "system", "content": self.system_prompt.text},
            {"role": "user", "content": user},
        ]

    def _top_k(self, top_k: int | None) -> int:
        k = self.default_top_k if top_k is None else top_k
        if not 1 <= k <= MAX_TOP_K:
            raise InvalidQueryError(f"top_k must be between 1 and {MAX_TOP_K}, got {k}")
        return k

    def _sources(self, hits: Sequence[Hit]) -> tuple[list[Source], dict[str, str]]:
        documents: dict[str, str] = {}
        titles: dict[str, str] = {}
        sources: list[Source] = []
        for i, hit in enumerate(hits, start=1):
            chunk = hit.chunk
            if chunk.doc_id not in documents:
                doc = self.index.get_document(chunk.doc_id)
                documents[doc.id] = doc.text
                titles[doc.id] = doc.title
            sources.append(
                Source(
                    n=i,
                    doc_id=chunk.doc_id,
                    chunk_id=chunk.id,
                    title=chunk.title or titles[chunk.doc_id],
                    text=chunk.text,
                    start=chunk.start,
                )
            )
        return sources, documents

    def _generate(self, messages: Sequence[Message], model: str, started: float) -> _Generated:
        chain = [model]
        if self.fallback_model and self.fallback_model not in chain and not is_extractive(model):
            chain.append(self.fallback_model)
        failure: str | None = None
        for name in chain:
            remaining = self.deadline_s - (time.perf_counter() - started)
            if remaining <= 0.5:
                failure = failure or "answer deadline reached"
                break
            try:
                timeout = min(remaining, getattr(self.generator, "timeout_s", remaining))
                gen = self.generator.generate(messages, model=name, timeout_s=timeout)
                parsed = parse_output(gen.text)
            except GenerationError as exc:
                logger.warning("generation with %s failed: %s", name, exc)
                failure = f"{name}: {exc}"
                continue
            degraded = name != model
            return _Generated(parsed, gen.model, degraded, failure if degraded else None)
        # Last resort: the extractive provider, still through litellm; it needs no network.
        reason = failure or "the configured model failed"
        gen = self.generator.generate(messages, model=EXTRACTIVE_MODEL, timeout_s=5.0)
        return _Generated(parse_output(gen.text), gen.model, True, reason)


def validate_question(question: str) -> str:
    """The question stripped; InvalidQueryError if empty or longer than 2000 characters."""
    q = " ".join(question.split()) if isinstance(question, str) else ""
    if not q:
        raise InvalidQueryError("the question is empty; ask something about the documents")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQueryError(
            f"the question is {len(question)} characters long; at most {MAX_QUESTION_CHARS} "
            "are accepted"
        )
    return q


def _final_check(verified: VerifiedAnswer, documents: Mapping[str, str]) -> VerifiedAnswer:
    """Belt and braces: every citation must be an exact slice of its document."""
    bad = [c for c in verified.citations if documents.get(c.doc_id, "")[c.start : c.end] != c.quote]
    if not bad:
        return verified
    logger.error("%d citation(s) failed the exact-span check; abstaining", len(bad))
    return replace(
        verified,
        answer="",
        abstained=True,
        abstain_reason="citations could not be matched to the documents exactly",
        citations=(),
    )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 3)


def build_pipeline(settings: Settings, index: SearchableIndex) -> AnswerPipeline:
    """The one factory adapters use: a LiteLLM-backed pipeline configured from settings."""
    from service.generators import LiteLLMGenerator

    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    generator = LiteLLMGenerator(
        settings.llm_model,
        api_base=settings.llm_api_base,
        api_key=api_key,
        timeout_s=settings.llm_timeout_s,
        retries=settings.llm_retries,
    )
    return AnswerPipeline(
        index,
        generator,
        default_top_k=settings.top_k,
        retrieval=settings.retrieval,
        fallback_model=settings.llm_fallback_model,
        deadline_s=settings.answer_deadline_s,
    )
