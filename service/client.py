"""The one HTTP client of a running citeqa service (httpx), sync and async.

Used by everything that talks to a service over HTTP: the Slack bot's remote mode, the eval
harness's ``--url`` mode, the load tool and the bench. Error bodies
(``{"error": {"code", "message"}}``) come back as the project's own exceptions.

Example::

    with CiteqaClient("http://127.0.0.1:8000") as client:
        answer = client.ask("Who signed the mutual defense pact?")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from types import TracebackType
from typing import Any

import httpx

from index.errors import (
    CiteqaError,
    GenerationError,
    GenerationTimeoutError,
    InvalidQueryError,
    ServiceNotReadyError,
)
from service.answering.conversation import Turn
from service.answering.types import (
    Answer,
    AnswerSentence,
    Citation,
    Conflict,
    ConflictValue,
    RetrievedChunk,
)

logger = logging.getLogger(__name__)

# Error codes of the service's JSON error body mapped back onto the exception tree.
_ERRORS_BY_CODE: Mapping[str, type[CiteqaError]] = {
    "invalid_query": InvalidQueryError,
    "invalid_request": InvalidQueryError,
    "not_ready": ServiceNotReadyError,
    "generation_timeout": GenerationTimeoutError,
    "deadline_exceeded": GenerationTimeoutError,
    "generation_error": GenerationError,
}


class ServiceError(CiteqaError):
    """The service answered with an error status (``status`` and the body's ``code``)."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(f"HTTP {status}{f' {code}' if code else ''}: {message}")
        self.status = status
        self.code = code


def error_from_response(response: httpx.Response) -> CiteqaError:
    """The exception for a non-2xx response, from the service's JSON error body."""
    code, message = "", response.text[:200]
    try:
        error = response.json().get("error", {})
        code, message = str(error.get("code", "")), str(error.get("message", message))
    except (ValueError, AttributeError):
        pass
    cls = _ERRORS_BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    if response.status_code >= 500:
        return GenerationError(message)
    return ServiceError(message, response.status_code, code)


def transport_error(exc: httpx.HTTPError, base_url: str, path: str) -> CiteqaError:
    """A request that got no response: timed out, or could not reach the service."""
    if isinstance(exc, httpx.TimeoutException):
        return GenerationTimeoutError(f"citeqa at {base_url} did not answer {path} in time")
    return GenerationError(f"cannot reach citeqa at {base_url}: {exc}")


def _bearer(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise GenerationError(f"{what}: the response is not JSON") from exc
    if not isinstance(data, dict):
        raise GenerationError(f"{what}: the response is not a JSON object")
    return data


def ask_body(
    question: str,
    *,
    top_k: int | None = None,
    model: str | None = None,
    history: Sequence[Turn] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The JSON body of ``POST /ask`` (optional fields left out)."""
    body: dict[str, Any] = {"question": question, **extra}
    if top_k is not None:
        body["top_k"] = top_k
    if model is not None:
        body["model"] = model
    if history:
        body["history"] = [turn_json(t) for t in history]
    return body


def turn_json(turn: Turn) -> dict[str, Any]:
    """One earlier turn as ``POST /ask`` takes it in ``history``."""
    return {
        "question": turn.question,
        "answer": turn.answer,
        "citations": [asdict(c) for c in turn.citations],
    }


class CiteqaClient:
    """Synchronous client; ``retries_on_429`` waits as ``Retry-After`` says (capped at 5 s)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries_on_429: int = 0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries_on_429 = retries_on_429
        self.http = httpx.Client(
            base_url=self.base_url, headers=_bearer(api_key), timeout=timeout_s, transport=transport
        )

    def __enter__(self) -> CiteqaClient:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """One request, retried on 429 as configured; transport failures as GenerationError."""
        for attempt in range(self.retries_on_429 + 1):
            try:
                response = self.http.request(method, path, json=body)
            except httpx.HTTPError as exc:
                raise transport_error(exc, self.base_url, path) from exc
            if response.status_code != 429 or attempt == self.retries_on_429:
                return response
            time.sleep(retry_after_s(response))
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON object of a successful response; the mapped exception otherwise."""
        response = self.request(method, path, body)
        if response.status_code != 200:
            raise error_from_response(response)
        return _json_object(response, f"{method} {path}")

    def ask_json(self, question: str, **fields: Any) -> dict[str, Any]:
        return self.call("POST", "/ask", ask_body(question, **fields))

    def ask(self, question: str, **fields: Any) -> Answer:
        """The answer to ``question``; ``history=[Turn, ...]`` asks it as a follow-up."""
        return _answer(self.ask_json(question, **fields), self.base_url)

    def search(self, query: str, **fields: Any) -> dict[str, Any]:
        return self.call("POST", "/search", {"query": query, **fields})

    def is_ready(self) -> bool:
        try:
            return self.http.get("/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False


class AsyncCiteqaClient:
    """The asynchronous twin of :class:`CiteqaClient`, for many concurrent requests (the load
    tool); responses come back as they are."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 90.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_bearer(api_key),
            timeout=timeout_s,
            limits=limits,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        try:
            return await self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.base_url, path) from exc


def _answer(data: Mapping[str, Any], base_url: str) -> Answer:
    try:
        return answer_from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise GenerationError(f"citeqa at {base_url} sent an unreadable answer") from exc


def retry_after_s(response: httpx.Response, cap_s: float = 5.0) -> float:
    """The wait a 429 asks for (``Retry-After`` seconds), capped; 1 s when it says nothing."""
    try:
        return min(cap_s, max(0.0, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def answer_from_dict(data: Mapping[str, Any]) -> Answer:
    """Rebuilds an ``Answer`` from its ``to_dict()`` JSON; unknown keys are ignored."""
    citations = tuple(
        Citation(
            id=int(c["id"]),
            doc_id=str(c["doc_id"]),
            chunk_id=str(c.get("chunk_id", "")),
            title=str(c.get("title", "")),
            quote=str(c.get("quote", "")),
            start=int(c.get("start", 0)),
            end=int(c.get("end", 0)),
            page=int(c["page"]) if c.get("page") is not None else None,
            page_end=int(c["page_end"]) if c.get("page_end") is not None else None,
            origin=str(c.get("origin", "model")),
        )
        for c in _as_list(data.get("citations"))
    )
    sentences = tuple(
        AnswerSentence(
            text=str(s.get("text", "")),
            citations=tuple(int(i) for i in _as_list(s.get("citations"))),
            supported=bool(s.get("supported", True)),
        )
        for s in _as_list(data.get("sentences"))
    )
    conflicts = tuple(
        Conflict(
            topic=str(c.get("topic", "")),
            values=tuple(
                ConflictValue(
                    value=str(v.get("value", "")),
                    citation=int(v.get("citation", 0)),
                    doc_id=str(v.get("doc_id", "")),
                    attribution=str(v.get("attribution", "")),
                )
                for v in _as_list(c.get("values"))
            ),
        )
        for c in _as_list(data.get("conflicts"))
    )
    retrieved = tuple(
        RetrievedChunk(
            chunk_id=str(r.get("chunk_id", "")),
            doc_id=str(r.get("doc_id", "")),
            score=float(r.get("score", 0.0)),
        )
        for r in _as_list(data.get("retrieved"))
    )
    timings = data.get("timings_ms")
    return Answer(
        answer=str(data.get("answer", "")),
        abstained=bool(data.get("abstained", False)),
        citations=citations,
        sentences=sentences,
        conflicts=conflicts,
        abstain_reason=data.get("abstain_reason"),
        model=str(data.get("model", "")),
        prompt_version=str(data.get("prompt_version", "")),
        index_version=str(data.get("index_version", "")),
        retrieved=retrieved,
        timings_ms={str(k): float(v) for k, v in timings.items()}
        if isinstance(timings, Mapping)
        else {},
        degraded=bool(data.get("degraded", False)),
        degraded_reason=data.get("degraded_reason"),
        retrieval_query=data.get("retrieval_query"),
        generator=str(data.get("generator", "")),
        fallback_reason=data.get("fallback_reason"),
    )
