"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any OpenAI client or chat UI can talk to citeqa: the last user message is the question (earlier
user messages, each with the assistant reply after it, are the conversation's history; system
messages are ignored), the reply's ``content`` is the cited answer followed by a "Sources:"
list, and the structured answer (citations with quotes and offsets) rides along in the extra
field ``citeqa``. Requests are parsed leniently
(clients send temperature, max_tokens, ...), which citeqa accepts and ignores.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from index.errors import InvalidQueryError
from service.answering.conversation import Turn
from service.answering.types import Answer, StreamEvent
from service.http.deps import context, ready
from service.http.errors import BODY_ERRORS, GENERATION_ERRORS, READY_ERRORS, error_response
from service.http.lifecycle import Components
from service.http.routes.ask import answer_question, streams_sentences, verified_stream
from service.http.schemas import CHAT_EVENT_SCHEMA, MAX_QUESTION_CHARS, AskResponse
from service.http.sse import SSE_HEADERS, SSE_MEDIA_TYPE, split_deltas, sse_event
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

MODEL_ID = "citeqa"
_OWNER = "citeqa"
_LENIENT = ConfigDict(extra="allow")


class ContentPart(BaseModel):
    model_config = _LENIENT
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = _LENIENT
    role: str = Field(max_length=64)
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if self.content is None:
            return ""
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat completion request that citeqa uses; other fields are ignored."""

    model_config = _LENIENT
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False


class ChatMessageOut(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    citeqa: AskResponse


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


def served_models(request: Request) -> list[str]:
    """``citeqa`` plus the configured generator's name; both mean the configured pipeline."""
    configured = context(request).settings.llm_model
    return [MODEL_ID] if configured == MODEL_ID else [MODEL_ID, configured]


def render_content(answer: Answer) -> str:
    """The answer text with a readable sources list (what a chat UI shows)."""
    if not answer.citations:
        return answer.answer
    lines = [answer.answer.rstrip(), "", "Sources:"]
    for c in answer.citations:
        quote = " ".join(c.quote.split())
        if len(quote) > 300:
            quote = quote[:297] + "..."
        lines.append(f'[{c.id}] {c.title or c.doc_id} ({c.doc_id}): "{quote}"')
    return "\n".join(lines)


def _question(body: ChatCompletionRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            text = message.text().strip()
            if not text:
                raise InvalidQueryError("the last user message has no text; ask a question")
            if len(text) > MAX_QUESTION_CHARS:
                raise InvalidQueryError(
                    f"the question is {len(text)} characters long; at most "
                    f"{MAX_QUESTION_CHARS} are accepted"
                )
            return text
    raise InvalidQueryError("messages must include a message with role 'user' (the question)")


_SOURCES_RE = re.compile(r"\n\s*\nSources:\n.*\Z", re.DOTALL)


def _history(body: ChatCompletionRequest, settings: Settings) -> tuple[Turn, ...]:
    """Earlier user messages, each with the assistant reply after it, oldest first; system
    messages are ignored (citeqa's rules are not theirs to change)."""
    last_user = max(i for i, m in enumerate(body.messages) if m.role == "user")
    turns: list[Turn] = []
    pending: str | None = None
    for message in body.messages[:last_user]:
        if message.role == "user":
            text = message.text().strip()
            if text:
                if pending is not None:
                    turns.append(Turn(pending, ""))
                pending = text
        elif message.role == "assistant" and pending is not None:
            # The "Sources:" list citeqa appended is not part of the answer text.
            turns.append(Turn(pending, _SOURCES_RE.sub("", message.text()).strip()))
            pending = None
    if pending is not None:
        turns.append(Turn(pending, ""))
    # Chat clients resend the whole conversation: keep its most recent turns within the limits.
    kept = turns[-settings.history_max_turns :]
    cap = settings.history_max_answer_chars
    return tuple(Turn(t.question, t.answer[:cap]) for t in kept)


def _usage(question: str, content: str) -> dict[str, int]:
    # Word counts stand in for tokens: citeqa has no billing, but clients expect the field.
    prompt, completion = len(question.split()), len(content.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _frame(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None,
    **extra: Any,
) -> str:
    """One ``chat.completion.chunk`` event."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    chunk = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
        **extra,
    }
    return sse_event(None, chunk)


def _chunks(
    completion_id: str, created: int, model: str, content: str, answer: Answer
) -> Iterator[str]:
    def frame(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
        return _frame(completion_id, created, model, delta, finish, **extra)

    yield frame({"role": "assistant", "content": ""}, None)
    for piece in split_deltas(content):
        yield frame({"content": piece}, None)
    yield frame({}, "stop", citeqa=answer.to_dict())
    yield sse_event(None, "[DONE]")


def _sentence_chunks(
    completion_id: str, created: int, model: str, events: Iterator[StreamEvent]
) -> Iterator[str]:
    """Chunks of a verified sentence stream: each sentence once verified, then the sources."""

    def frame(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
        return _frame(completion_id, created, model, delta, finish, **extra)

    yield frame({"role": "assistant", "content": ""}, None)
    sent = False
    for event in events:
        if event.answer is None:
            yield frame({"content": event.text if not sent else f" {event.text}"}, None)
            sent = True
            continue
        answer = event.answer
        if not sent:
            yield frame({"content": answer.answer}, None)
        if answer.citations:
            sources = render_content(replace(answer, answer=""))
            yield frame({"content": "\n" + sources}, None)
        yield frame({}, "stop", citeqa=answer.to_dict())
    yield sse_event(None, "[DONE]")


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="OpenAI-compatible chat completion (the last user message is the question)",
    responses={
        200: {"content": {SSE_MEDIA_TYPE: {"schema": CHAT_EVENT_SCHEMA}}},
        404: {"description": "Unknown model; see GET /v1/models"},
        **BODY_ERRORS,
        **READY_ERRORS,
        **GENERATION_ERRORS,
    },
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, comps: Annotated[Components, Depends(ready)]
) -> Response:
    models = served_models(request)
    if body.model not in models:
        return error_response(
            404, "model_not_found", f"unknown model {body.model!r}; available: {models}"
        )
    question = _question(body)
    history = _history(body, context(request).settings)
    rid = request.scope.get("state", {}).get("request_id") or f"{time.time_ns():x}"
    if body.stream and streams_sentences(comps):
        events = verified_stream(request, comps, question, None, None, "chat", history)
        return StreamingResponse(
            _sentence_chunks(f"chatcmpl-{rid}", int(time.time()), body.model, events),
            media_type=SSE_MEDIA_TYPE,
            headers=SSE_HEADERS,
        )
    answer = await answer_question(request, comps, question, None, None, "chat", history)
    content = render_content(answer)
    completion_id = f"chatcmpl-{rid}"
    created = int(time.time())
    if body.stream:
        return StreamingResponse(
            _chunks(completion_id, created, body.model, content, answer),
            media_type=SSE_MEDIA_TYPE,
            headers=SSE_HEADERS,
        )
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": _usage(question, content),
            "citeqa": answer.to_dict(),
        }
    )


@router.get("/models", response_model=ModelList, summary="OpenAI-compatible model list")
async def list_models(request: Request) -> JSONResponse:
    created = int(context(request).started_at)
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": created, "owned_by": _OWNER}
                for m in served_models(request)
            ],
        }
    )
