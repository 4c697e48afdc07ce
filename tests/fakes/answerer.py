"""The fake ``Answerer`` (``service/answering/protocol.py``), for the HTTP, Slack and eval tests."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from index.errors import GenerationError, InvalidQueryError
from index.text.sentences import split_sentences
from service.answering.conversation import RuleRewriter, Turn
from service.answering.types import Answer, AnswerSentence, Citation, RetrievedChunk
from tests.fakes.index import FakeIndex, overlap_share

ABSTAIN_TEXT = "The documents do not say."
# Over an index the fake abstains when the best passage holds less than this share of the
# question's content terms.
MIN_OVERLAP_SHARE = 0.34
MAX_QUESTION_CHARS = 2000

SEED_QUOTE = "Reports from South Korean intelligence suggest that over 10,000 North Korean troops"


def sample_answer(question: str) -> Answer:
    """An answer in the shape the pipeline gives, quoting seeds/004."""
    return Answer(
        answer="Over 10,000 North Korean troops have been deployed to Russia [1].",
        abstained=False,
        citations=(
            Citation(
                id=1,
                doc_id="004_114b54cabd2150fb",
                chunk_id="c1",
                title="North Korean troops fighting alongside Russian forces",
                quote=SEED_QUOTE,
                start=0,
                end=len(SEED_QUOTE),
            ),
        ),
        sentences=(AnswerSentence("Over 10,000 …", (1,)),),
        model="extractive",
        prompt_version="answer-v1",
        index_version="idx-1",
    )


def generation_failure() -> GenerationError:
    """A generator failure whose message must not reach clients."""
    return GenerationError("provider said: secret-upstream-detail")


class FakeAnswerer:
    """The fake ``Answerer``; also callable as the Slack bot's answer function (question only).

    Over an ``index`` it quotes the first sentence of the best passage, cited at its offsets, and
    abstains when nothing is found or the best passage holds less than ``MIN_OVERLAP_SHARE`` of
    the question's content terms. Without an index it is scripted by words in the question:
    "slow" sleeps ``slow_s``, "boom" raises GenerationError, "abstain" abstains, "evil" returns
    text full of Slack markup and broadcast mentions; any other question gets ``sample_answer``.

    Every question is recorded in ``questions`` (``calls`` counts them) and its history in
    ``histories``, and validated like the pipeline does (InvalidQueryError when blank or too
    long); then every answer waits ``delay`` seconds and, when ``error`` is set, raises it. A
    follow-up is rewritten with the real ``RuleRewriter``; over an index the rewritten query is
    what is searched, and it is returned as ``retrieval_query``.
    """

    def __init__(
        self,
        index: FakeIndex | None = None,
        *,
        delay: float = 0.0,
        error: Exception | None = None,
        slow_s: float = 5.0,
    ) -> None:
        self.index = index
        self.delay = delay
        self.error = error
        self.slow_s = slow_s
        self.questions: list[str] = []
        self.histories: list[tuple[Turn, ...]] = []

    @property
    def calls(self) -> int:
        return len(self.questions)

    def __call__(self, question: str, *, history: Sequence[Turn] = ()) -> Answer:
        return self.answer(question, history=history)

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        self.questions.append(question)
        self.histories.append(tuple(history))
        if not question.strip():
            raise InvalidQueryError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidQueryError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        rewritten = RuleRewriter().rewrite(question, history) if history else None
        if self.index is None:
            return replace(self._scripted(question), retrieval_query=rewritten)
        query = rewritten or question
        answer = self._quote_best_passage(self.index, query, top_k or 5, filters)
        return replace(answer, retrieval_query=rewritten)

    def _quote_best_passage(
        self, index: FakeIndex, question: str, top_k: int, filters: Mapping[str, Any] | None
    ) -> Answer:
        version = index.version
        hits = index.search(question, top_k=top_k, filters=filters)
        retrieved = tuple(RetrievedChunk(h.chunk.id, h.chunk.doc_id, h.score) for h in hits)
        if not hits or overlap_share(question, hits[0].chunk.text) < MIN_OVERLAP_SHARE:
            return Answer(
                answer=ABSTAIN_TEXT,
                abstained=True,
                abstain_reason="no_relevant_passages",
                model="fake",
                index_version=version,
                retrieved=retrieved,
            )
        chunk = hits[0].chunk
        s, e = next(iter(split_sentences(chunk.text)), (0, len(chunk.text)))
        quote = chunk.text[s:e]
        start = chunk.start + s
        citation = Citation(
            1, chunk.doc_id, chunk.id, chunk.title, quote, start, start + len(quote)
        )
        text = f"{quote} [1]"
        return Answer(
            answer=text,
            abstained=False,
            citations=(citation,),
            sentences=(AnswerSentence(text, (1,)),),
            model="fake",
            prompt_version="fake-1",
            index_version=version,
            retrieved=retrieved,
            timings_ms={"total": 0.1},
        )

    def _scripted(self, question: str) -> Answer:
        if "slow" in question:
            time.sleep(self.slow_s)
        if "boom" in question:
            raise GenerationError("provider exploded: secret-internal-detail")
        if "abstain" in question:
            return Answer(
                answer="",
                abstained=True,
                abstain_reason="no passage mentions the weather in Kursk",
                model="extractive",
            )
        if "evil" in question:
            return Answer(
                answer="Ping <!channel> & @here, see <@U999> in <#C777|secret> "
                "<https://x.io|x> [1]",
                abstained=False,
                citations=(
                    Citation(1, "doc<1>", "c", "Title <b>@everyone</b>", "q <!everyone> & >", 0, 5),
                ),
                model="extractive",
                degraded=True,
                degraded_reason="fallback <model>",
            )
        return sample_answer(question)
