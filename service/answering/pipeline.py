"""The answering pipeline: analyse -> retrieve -> generate (a draft) -> verify citations.

``AnswerPipeline.answer(question)`` is the :class:`~service.answering.protocol.Answerer` every
adapter calls. The question is analysed once and the analysis passed along; the generator (by
default the fallback chain, see :mod:`.generators.fallback`) drafts from typed sources, and the
verifier keeps only what the sources say, at exact offsets.

Example::

    pipeline = AnswerPipeline(index, ExtractiveGenerator(), prompt_version="...")
    answer = pipeline.answer("How many North Korean troops are in Russia?")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from index.errors import GenerationError, InvalidQueryError
from index.ingestion.pages import page_range
from index.models import Hit
from index.text.sentences import split_sentences
from service.answering.conflicts import conflict_sentence, find_conflicts
from service.answering.conversation import QuestionRewriter, RuleRewriter, Turn
from service.answering.evidence import Draft, Source
from service.answering.generators.protocol import (
    Generation,
    GenerationRequest,
    Generator,
    StreamingGenerator,
    normalize_model,
)
from service.answering.protocol import SearchableIndex
from service.answering.question import analyse_question, asks_for_a_quantity
from service.answering.types import Answer, Citation, RetrievedChunk, StreamEvent
from service.answering.verification import (
    SentenceVerifier,
    VerifiedAnswer,
    VerifiedSentence,
    verify_output,
)

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50
# Earlier turns the rewriter looks at (the HTTP layer enforces its own, configurable limit).
MAX_HISTORY_TURNS = 20
# Candidates retrieved for "how many" questions, whatever top_k asks (see AnswerPipeline.answer).
COUNT_TOP_K = 10
ABSTAIN_TEXT = "The indexed documents do not answer this question."


@dataclass
class _Retrieved:
    request: GenerationRequest
    sources: list[Source]
    documents: dict[str, str]
    retrieved: tuple[RetrievedChunk, ...]
    index_version: str
    timings: dict[str, float]
    started: float
    retrieval_query: str | None = None


def _sentence_events(answer: Answer) -> Iterator[StreamEvent]:
    """The sentences of a finished answer as stream events (each citation with its first use)."""
    if answer.abstained:
        return
    by_id = {c.id: c for c in answer.citations}
    shown: set[int] = set()
    rendered = [s for s in answer.sentences if s.supported]
    texts = _split_rendered(answer.answer, len(rendered))
    for sentence, text in zip(rendered, texts, strict=True):
        new = tuple(by_id[i] for i in sentence.citations if i not in shown and i in by_id)
        shown.update(sentence.citations)
        yield StreamEvent(text=text, citations=new)


def _split_rendered(text: str, n: int) -> list[str]:
    """The answer text cut into ``n`` pieces at sentence ends (one piece if it will not cut)."""
    spans = split_sentences(text)
    if len(spans) != n or n == 0:
        return [text] + [""] * (n - 1) if n else []
    return [text[s:e] for s, e in spans]


class AnswerPipeline:
    """Answers questions from an index with verified, span-exact citations."""

    def __init__(
        self,
        index: SearchableIndex,
        generator: Generator,
        *,
        prompt_version: str,
        default_top_k: int = 5,
        retrieval: Literal["hybrid", "dense", "bm25"] = "hybrid",
        rewriter: QuestionRewriter | None = None,
    ) -> None:
        self.index = index
        self.rewriter: QuestionRewriter = rewriter or RuleRewriter()
        self.generator = generator
        self.prompt_version = prompt_version
        self.default_top_k = default_top_k
        self.retrieval = retrieval

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """Retrieves, generates and verifies; never returns an unverified citation. A follow-up
        (``history`` non-empty) is first rewritten into a standalone query, which is what is
        searched and answered (``Answer.retrieval_query``)."""
        found = self._retrieve(question, top_k, filters, model, history)
        if isinstance(found, Answer):
            return found
        t = time.perf_counter()
        gen = self.generator.generate(found.request)
        found.timings["generate"] = _ms(t)
        t = time.perf_counter()
        verified = verify_output(gen.draft, found.sources, found.documents)
        return self._finish(found, gen, verified, t)

    def answer_stream(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[StreamEvent]:
        """Like :meth:`answer`, but yields each sentence once it is complete and verified (with
        the citations it introduces), then the whole Answer. A sentence that fails verification
        is never yielded; a generator that cannot stream yields its sentences when done."""
        found = self._retrieve(question, top_k, filters, model, history)
        if isinstance(found, Answer):
            yield StreamEvent(answer=found)
            return
        if not isinstance(self.generator, StreamingGenerator):
            answer = self.answer(question, top_k, filters, model, history)
            yield from _sentence_events(answer)
            yield StreamEvent(answer=answer)
            return
        t = time.perf_counter()
        verifier = SentenceVerifier(found.sources, found.documents)
        streamed = 0
        gen: Generation | None = None
        for item in self.generator.stream(found.request):
            if isinstance(item, Generation):
                gen = item
                break
            streamed += 1
            verifier.add_quotes(item.quotes)
            event = self._checked(verifier.add_sentence(item.sentence), found.documents)
            if event is not None:
                yield event
        if gen is None:
            raise GenerationError("the generator's stream ended without its result")
        found.timings["generate"] = _ms(t)
        t = time.perf_counter()
        if gen.draft.abstained and streamed == 0:
            verified = verify_output(gen.draft, found.sources, found.documents)
        else:
            # The sentences the stream did not deliver (a reply read only at its end).
            verifier.add_quotes(gen.draft.quotes)
            for sentence in gen.draft.sentences[streamed:]:
                event = self._checked(verifier.add_sentence(sentence), found.documents)
                if event is not None:
                    yield event
            verified = verifier.result()
        yield StreamEvent(answer=self._finish(found, gen, verified, t))

    def _checked(
        self, judged: VerifiedSentence, documents: Mapping[str, str]
    ) -> StreamEvent | None:
        if judged.rendered is None:
            return None
        if any(
            documents.get(c.doc_id, "")[c.start : c.end] != c.quote for c in judged.new_citations
        ):
            logger.error("a streamed citation failed the exact-span check; sentence withheld")
            return None
        return StreamEvent(
            text=judged.rendered, citations=_with_pages(judged.new_citations, self.index)
        )

    def _retrieve(
        self,
        question: str,
        top_k: int | None,
        filters: Mapping[str, Any] | None,
        model: str | None,
        history: Sequence[Turn] = (),
    ) -> _Retrieved | Answer:
        """The generation request over the retrieved sources, or the abstention when none."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        q = validate_question(question)
        k = self._top_k(top_k)
        retrieval_query: str | None = None
        if history:
            t = time.perf_counter()
            retrieval_query = self.rewriter.rewrite(q, history[-MAX_HISTORY_TURNS:])
            timings["rewrite"] = _ms(t)
            if retrieval_query and len(retrieval_query) <= MAX_QUESTION_CHARS:
                q = " ".join(retrieval_query.split())
            else:
                retrieval_query = None
        analysis = analyse_question(q)
        if asks_for_a_quantity(analysis):
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
        if not sources:
            timings.update(generate=0.0, verify=0.0, total=_ms(started))
            return Answer(
                answer=ABSTAIN_TEXT,
                abstained=True,
                abstain_reason="no passage was retrieved for this question",
                abstain_code="no_evidence",
                model=chosen_model,
                prompt_version=self.prompt_version,
                index_version=index_version,
                retrieved=retrieved,
                timings_ms=timings,
                retrieval_query=retrieval_query,
            )
        request = GenerationRequest(
            question=q, analysis=analysis, sources=tuple(sources), model=model
        )
        return _Retrieved(
            request, sources, documents, retrieved, index_version, timings, started, retrieval_query
        )

    def _finish(
        self, found: _Retrieved, gen: Generation, verified: VerifiedAnswer, verify_started: float
    ) -> Answer:
        verified = _final_check(verified, found.documents)
        verified = replace(verified, citations=_with_pages(verified.citations, self.index))
        analysis = found.request.analysis
        conflicts = find_conflicts(analysis, verified.citations) if not verified.abstained else ()
        if conflicts:
            verified = replace(verified, answer=f"{conflict_sentence(conflicts)} {verified.answer}")
        timings = found.timings
        timings["verify"] = _ms(verify_started)
        timings["total"] = _ms(found.started)
        return Answer(
            answer=verified.answer if not verified.abstained else ABSTAIN_TEXT,
            abstained=verified.abstained,
            citations=verified.citations,
            sentences=verified.sentences,
            conflicts=conflicts,
            abstain_reason=verified.abstain_reason,
            confidence=gen.draft.confidence,
            abstain_code=_abstain_code(gen.draft, verified),
            model=gen.model,
            prompt_version=self.prompt_version,
            index_version=found.index_version,
            retrieved=found.retrieved,
            timings_ms=timings,
            degraded=gen.degraded,
            degraded_reason=gen.degraded_reason,
            retrieval_query=found.retrieval_query,
            generator=gen.generator,
            fallback_reason=gen.fallback_reason,
        )

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
                    score=float(hit.score),
                )
            )
        return sources, documents


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


def _abstain_code(draft: Draft, verified: VerifiedAnswer) -> str | None:
    """Why the answer abstained: the generator's own reason, else "nothing verified"."""
    if not verified.abstained:
        return None
    return draft.abstain_code or "low_confidence"


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


def _with_pages(citations: Sequence[Citation], index: SearchableIndex) -> tuple[Citation, ...]:
    """Citations into paginated documents say on which page(s) their quote stands."""
    out = []
    for c in citations:
        pages = index.get_document(c.doc_id).pages
        if pages:
            first, last = page_range(pages, c.start, c.end)
            c = replace(c, page=first, page_end=last if last != first else None)
        out.append(c)
    return tuple(out)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 3)
