"""``POST /ask``: a cited answer, as JSON or as a Server-Sent Events stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from index.errors import GenerationError, InvalidQueryError
from service.answering.conversation import Turn
from service.answering.generators.protocol import is_extractive
from service.answering.pipeline import validate_question
from service.answering.protocol import StreamingAnswerer
from service.answering.types import Answer, Citation, StreamEvent
from service.conversations import ConversationStore, open_store
from service.http.deps import context, ready, run_cpu
from service.http.errors import BODY_ERRORS, GENERATION_ERRORS, READY_ERRORS
from service.http.lifecycle import Components
from service.http.schemas import ASK_EVENT_SCHEMA, AskRequest, AskResponse, TurnIn
from service.http.sse import SSE_HEADERS, SSE_MEDIA_TYPE, answer_events, streamed_events
from service.settings import Settings

router = APIRouter(tags=["answers"])

_store_lock = threading.Lock()


def conversation_store(request: Request) -> ConversationStore:
    """The app's conversation store, opened on first use."""
    state = request.app.state
    with _store_lock:
        store = getattr(state, "conversations", None)
        if store is None:
            store = open_store(context(request).settings)
            state.conversations = store
    return store


async def answer_question(
    request: Request,
    comps: Components,
    question: str,
    top_k: int | None,
    filters: dict[str, object] | None,
    endpoint: str,
    history: Sequence[Turn] = (),
) -> Answer:
    """Runs the pipeline off the event loop and records the outcome in the metrics."""
    metrics = context(request).metrics
    kwargs = {"history": tuple(history)} if history else {}
    try:
        answer = await run_cpu(
            comps.pipeline.answer, question, top_k=top_k, filters=filters, model=None, **kwargs
        )
    except GenerationError:
        metrics.generator_errors.inc()
        raise
    metrics.observe_answer(answer, endpoint)
    return answer


def check_history(history: Sequence[Turn], settings: Settings) -> tuple[Turn, ...]:
    """The history within the configured limits; InvalidQueryError (422) naming the limit."""
    if len(history) > settings.history_max_turns:
        raise InvalidQueryError(
            f"history has {len(history)} turns; at most {settings.history_max_turns} are "
            "accepted (CITEQA_HISTORY_MAX_TURNS); send the most recent ones"
        )
    for i, turn in enumerate(history):
        if len(turn.answer) > settings.history_max_answer_chars:
            raise InvalidQueryError(
                f"history.{i}.answer is {len(turn.answer)} characters long; at most "
                f"{settings.history_max_answer_chars} are accepted "
                "(CITEQA_HISTORY_MAX_ANSWER_CHARS)"
            )
        if len(turn.citations) > settings.history_max_citations:
            raise InvalidQueryError(
                f"history.{i}.citations has {len(turn.citations)} entries; at most "
                f"{settings.history_max_citations} are accepted (CITEQA_HISTORY_MAX_CITATIONS)"
            )
    return tuple(history)


def document_history_limits(app: FastAPI, settings: Settings) -> None:
    """Writes the configured history limits into the OpenAPI schema, so it says what is
    accepted (the pydantic models only carry the absolute caps)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            models = schema.get("components", {}).get("schemas", {})
            ask_props = models.get("AskRequest", {}).get("properties", {})
            turn_props = models.get("TurnIn", {}).get("properties", {})
            if "history" in ask_props:
                ask_props["history"]["maxItems"] = settings.history_max_turns
            if "answer" in turn_props:
                turn_props["answer"]["maxLength"] = settings.history_max_answer_chars
            if "citations" in turn_props:
                turn_props["citations"]["maxItems"] = settings.history_max_citations
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def turns_from_request(history: Sequence[TurnIn]) -> tuple[Turn, ...]:
    return tuple(
        Turn(
            question=t.question,
            answer=t.answer,
            citations=tuple(
                Citation(c.id, c.doc_id, c.chunk_id, c.title, c.quote, c.start, c.end)
                for c in t.citations
            ),
        )
        for t in history
    )


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
    history: Sequence[Turn] = (),
) -> Iterator[StreamEvent]:
    """The pipeline's verified sentences (run in a worker thread by the streaming response),
    with the finished answer recorded in the metrics."""
    metrics = context(request).metrics
    validate_question(question)  # a bad question is a 422 before the stream starts
    pipeline = comps.pipeline
    assert isinstance(pipeline, StreamingAnswerer)
    try:
        for event in pipeline.answer_stream(
            question, top_k=top_k, filters=filters, model=None, history=history
        ):
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
    settings = context(request).settings
    history = check_history(turns_from_request(body.history), settings)
    store, owner = None, ""
    if body.conversation_id is not None:
        # The stored turns come first; a client may still send more of its own.
        store = conversation_store(request)
        owner = str(request.scope.get("state", {}).get("client_id") or "anonymous")
        stored = await run_cpu(store.load, owner, body.conversation_id, settings.history_max_turns)
        history = (*stored, *history)[-settings.history_max_turns :]
    if wants_event_stream(request, body.stream) and streams_sentences(comps) and store is None:
        events = verified_stream(request, comps, body.question, body.top_k, filters, "ask", history)
        return StreamingResponse(
            streamed_events(events), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS
        )
    answer = await answer_question(
        request, comps, body.question, body.top_k, filters, "ask", history
    )
    data = answer.to_dict()
    if store is not None and body.conversation_id is not None:
        turn = Turn(body.question, answer.answer, answer.citations)
        await run_cpu(store.append, owner, body.conversation_id, turn)
        data["conversation_id"] = body.conversation_id
    if wants_event_stream(request, body.stream):
        # The answer is complete before the first byte, so failures are ordinary HTTP errors
        # rather than a half-sent stream; the deltas still let clients render progressively.
        return StreamingResponse(
            answer_events(answer), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS
        )
    return JSONResponse(data)
