"""``POST /ask``: a cited answer, as JSON or as a Server-Sent Events stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from index.errors import GenerationError
from service.answering.types import Answer
from service.http.deps import context, ready, run_cpu
from service.http.errors import BODY_ERRORS, GENERATION_ERRORS, READY_ERRORS
from service.http.lifecycle import Components
from service.http.schemas import ASK_EVENT_SCHEMA, AskRequest, AskResponse
from service.http.sse import SSE_HEADERS, SSE_MEDIA_TYPE, answer_events

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
    answer = await answer_question(request, comps, body.question, body.top_k, filters, "ask")
    if wants_event_stream(request, body.stream):
        # The answer is complete before the first byte, so failures are ordinary HTTP errors
        # rather than a half-sent stream; the deltas still let clients render progressively.
        return StreamingResponse(
            answer_events(answer), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS
        )
    return JSONResponse(answer.to_dict())
