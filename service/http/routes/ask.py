"""``POST /ask``: a cited answer, as JSON or as a Server-Sent Events stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from index.errors import GenerationError
from service.answering.generators.protocol import is_extractive
from service.answering.pipeline import validate_question
from service.answering.protocol import StreamingAnswerer
from service.answering.types import Answer, StreamEvent
from service.http.deps import context, ready, run_cpu
from service.http.errors import BODY_ERRORS, GENERATION_ERRORS, READY_ERRORS
from service.http.lifecycle import Components
from service.http.schemas import ASK_EVENT_SCHEMA, AskRequest, AskResponse
from service.http.sse import SSE_HEADERS, SSE_MEDIA_TYPE, answer_events, streamed_events

router = APIRouter(tags=["answers"])


async def answer_question(
    request: Request,
    comps: Components,
    question: str,
    top_k: int | None,
    filters: dict[str, object] | None,
    endpoint: str,
) -> Answer:
    """Runs the pipeline off the event loop and records the outcome in the metrics."""
    metrics = context(request).metrics
    try:
        answer = await run_cpu(
            comps.pipeline.answer, question, top_k=top_k, filters=filters, model=None
        )
    except GenerationError:
        metrics.generator_errors.inc()
        raise
    metrics.observe_answer(answer, endpoint)
    return answer


def streams_sentences(comps: Components) -> bool:
    """Whether answers come from an LLM that streams (the default answerer is done at once)."""
    generator = getattr(comps.pipeline, "generator", None)
    return isinstance(comps.pipeline, StreamingAnswerer) and not is_extractive(
        str(getattr(generator, "model", "extractive"))
    )


def verified_stream(
    request: Request,
    comps: Components,
    question: str,
    top_k: int | None,
    filters: dict[str, object] | None,
    endpoint: str,
) -> Iterator[StreamEvent]:
    """The pipeline's verified sentences (run in a worker thread by the streaming response),
    with the finished answer recorded in the metrics."""
    metrics = context(request).metrics
    validate_question(question)  # a bad question is a 422 before the stream starts
    pipeline = comps.pipeline
    assert isinstance(pipeline, StreamingAnswerer)
    try:
        for event in pipeline.answer_stream(question, top_k=top_k, filters=filters, model=None):
            if event.answer is not None:
                metrics.observe_answer(event.answer, endpoint)
            yield event
    except GenerationError:
        metrics.generator_errors.inc()
        raise


def wants_event_stream(request: Request, stream_flag: bool) -> bool:
    return stream_flag or SSE_MEDIA_TYPE in request.headers.get("accept", "")


@router.post(
    "/ask",
    response_model=AskResponse,
    summary="Answer a question with citations",
    responses={
        200: {
            "description": "The answer (JSON), or an event stream when asked to stream",
            "content": {SSE_MEDIA_TYPE: {"schema": ASK_EVENT_SCHEMA}},
        },
        **BODY_ERRORS,
        **READY_ERRORS,
        **GENERATION_ERRORS,
    },
)
async def ask(
    body: AskRequest, request: Request, comps: Annotated[Components, Depends(ready)]
) -> Response:
    filters = body.filters.to_mapping() if body.filters else None
    if wants_event_stream(request, body.stream) and streams_sentences(comps):
        events = verified_stream(request, comps, body.question, body.top_k, filters, "ask")
        return StreamingResponse(
            streamed_events(events), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS
        )
    answer = await answer_question(request, comps, body.question, body.top_k, filters, "ask")
    if wants_event_stream(request, body.stream):
        # The answer is complete before the first byte, so failures are ordinary HTTP errors
        # rather than a half-sent stream; the deltas still let clients render progressively.
        return StreamingResponse(
            answer_events(answer), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS
        )
    return JSONResponse(answer.to_dict())
