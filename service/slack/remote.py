"""Answering through a running citeqa service (``citeqa slack --socket --url BASE_URL``).

The bot then needs neither the model nor the index: it POSTs the question to ``BASE_URL/ask`` and
rebuilds the ``Answer`` from the JSON body (``Answer.to_dict()`` on the other side).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from index.errors import (
    CiteqaError,
    GenerationError,
    GenerationTimeoutError,
    InvalidQueryError,
    ServiceNotReadyError,
)
from service.answer import (
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
    )


class RemoteAnswerer:
    """An answer function backed by ``POST {base_url}/ask`` of a running citeqa service.

    Example::

        answer = RemoteAnswerer("http://127.0.0.1:8000")("How many troops were sent?")
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 90.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __call__(self, question: str) -> Answer:
        try:
            response = self._client.post("/ask", json={"question": question})
        except httpx.TimeoutException as exc:
            raise GenerationTimeoutError(
                f"citeqa at {self.base_url} did not answer in time"
            ) from exc
        except httpx.HTTPError as exc:
            raise GenerationError(f"cannot reach citeqa at {self.base_url}: {exc}") from exc
        if response.status_code != 200:
            raise self._error(response)
        try:
            data = response.json()
            if not isinstance(data, Mapping):
                raise TypeError("body is not a JSON object")
            return answer_from_dict(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise GenerationError(f"citeqa at {self.base_url} sent an unreadable answer") from exc

    def _error(self, response: httpx.Response) -> CiteqaError:
        code, message = "", response.text[:200]
        try:
            error = response.json().get("error", {})
            code, message = str(error.get("code", "")), str(error.get("message", message))
        except (ValueError, AttributeError):
            pass
        cls = _ERRORS_BY_CODE.get(code)
        if cls is None:
            cls = GenerationError if response.status_code >= 500 else CiteqaError
        logger.warning("citeqa /ask returned %d %s: %s", response.status_code, code, message)
        return cls(message)
