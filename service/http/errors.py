"""The one place that turns errors into HTTP status codes and the JSON body ``{"error": {...}}``.

Every error response of the service has the shape::

    {"error": {"code": "invalid_request", "message": "what was wrong and what is accepted",
               "details": [...]}}   # details only for validation errors

``code`` is stable (clients may branch on it); ``message`` is for people. Server-side failures
(5xx) get a generic message: the details go to the log under the request id, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from index.errors import (
    CiteqaError,
    DocumentNotFoundError,
    GenerationError,
    GenerationTimeoutError,
    IndexStoreError,
    InvalidDocumentError,
    InvalidQueryError,
    ModelIntegrityError,
    ServiceNotReadyError,
)
from service.http.logs import current_request_id

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying while the model and index load.
NOT_READY_RETRY_AFTER_S = 2

# (error class, HTTP status, client-facing message or None to use str(exc)); first match wins,
# so subclasses come before their bases.
_CITEQA_STATUS: tuple[tuple[type[CiteqaError], int, str | None], ...] = (
    (DocumentNotFoundError, 404, None),
    (InvalidDocumentError, 422, None),
    (InvalidQueryError, 422, None),
    (ServiceNotReadyError, 503, None),
    (GenerationTimeoutError, 504, "the language model did not answer in time; try again later"),
    (GenerationError, 502, "the language model call failed; try again later"),
    (IndexStoreError, 503, "the document index is unavailable; see the server log"),
    (ModelIntegrityError, 503, "the embedding model is unavailable; see the server log"),
)

# Codes for errors raised by the framework (unknown route, wrong method, our own limits).
_HTTP_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "not_ready",
    504: "deadline_exceeded",
}


class ErrorInfo(BaseModel):
    """The inside of an error body."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message"}}``."""

    error: ErrorInfo


def _describe(status: int, text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


# OpenAPI documentation of the error responses each kind of route can give.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _describe(401, "Missing or wrong API key (when keys are configured)"),
    413: _describe(413, "Request body over the size limit"),
    429: _describe(429, "Rate limit exceeded; see Retry-After"),
    500: _describe(500, "Unexpected server error (details only in the server log)"),
    504: _describe(504, "The request exceeded the per-request deadline"),
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _describe(400, "Malformed JSON or request body"),
    422: _describe(422, "The request is well-formed JSON but not valid for this endpoint"),
}
READY_ERRORS: dict[int | str, dict[str, Any]] = {
    503: _describe(503, "The model and index are still loading; see Retry-After"),
}
GENERATION_ERRORS: dict[int | str, dict[str, Any]] = {
    502: _describe(502, "The language model call failed"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _describe(404, "No such document")}


def error_payload(
    code: str, message: str, details: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON body of an error response."""
    inner: dict[str, Any] = {"code": code, "message": message}
    if details:
        inner["details"] = [dict(d) for d in details]
    return {"error": inner}


def error_response(
    status: int,
    code: str | None = None,
    message: str | None = None,
    *,
    details: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response; ``code`` defaults to the one for ``status``."""
    code = code or _HTTP_CODES.get(status, "error")
    message = message or code.replace("_", " ")
    return JSONResponse(
        error_payload(code, message, details), status_code=status, headers=dict(headers or {})
    )


def status_for(exc: CiteqaError) -> tuple[int, str]:
    """HTTP status and client-facing message for a core error."""
    for cls, status, message in _CITEQA_STATUS:
        if isinstance(exc, cls):
            return status, message or str(exc) or cls.__name__
    return 500, "internal error"


def citeqa_error_response(exc: CiteqaError) -> JSONResponse:
    """Maps any :class:`CiteqaError` to its response (logging server-side failures)."""
    status, message = status_for(exc)
    if status >= 500 and not isinstance(exc, ServiceNotReadyError):
        logger.error("%s: %s", type(exc).__name__, exc, exc_info=exc)
    headers = {}
    if isinstance(exc, ServiceNotReadyError):
        headers["Retry-After"] = str(NOT_READY_RETRY_AFTER_S)
    return error_response(status, exc.code, message, headers=headers)


def internal_error_response() -> JSONResponse:
    """The generic 500: no exception text, no stack trace, just the request id to quote."""
    rid = current_request_id()
    suffix = f" (request id {rid})" if rid else ""
    return error_response(500, "internal_error", f"internal server error{suffix}")


def _validation_message(errors: Sequence[Any], hint: str | None) -> tuple[int, str, list[Any]]:
    details: list[dict[str, Any]] = []
    parts: list[str] = []
    status = 422
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        kind = str(err.get("type", ""))
        if kind == "json_invalid":
            status = 400
            ctx = err.get("ctx") or {}
            msg = f"request body is not valid JSON ({ctx.get('error', 'decode error')})"
            where = "body"
        elif kind == "string_pattern_mismatch":
            msg = "must contain non-whitespace text"
        elif kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "missing" and where == "body":
            msg = "a JSON object body is required"
        else:
            msg = str(err.get("msg", "invalid value"))
        details.append({"loc": where, "type": kind, "message": msg})
        parts.append(f"{where}: {msg}" if kind != "json_invalid" else msg)
    message = "; ".join(parts) or "invalid request"
    if hint:
        message = f"{message}. Accepted: {hint}"
    return status, message, details


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    from service.http.schemas import request_hint

    route = request.scope.get("route")
    hint = request_hint(getattr(route, "path", request.url.path))
    status, message, details = _validation_message(exc.errors(), hint)
    code = "invalid_json" if status == 400 else "invalid_request"
    return error_response(status, code, message, details=details)


async def _on_citeqa_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CiteqaError)
    return citeqa_error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs for the API"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        detail = f"method {request.method} is not allowed on {request.url.path}"
        if allowed:
            headers["Allow"] = ", ".join(allowed)
            detail += f"; allowed: {headers['Allow']}"
    return error_response(exc.status_code, code, detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    # Starlette's Allow header names only the first route matching the path; several routes
    # share a path here (GET and POST /documents), so collect them from the OpenAPI paths.
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    methods: set[str] = set()
    for template, operations in paths.items():
        regex, _, _ = compile_path(template)
        if regex.match(request.url.path):
            methods.update(m.upper() for m in operations)
    return sorted(methods)


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return internal_error_response()


def install_error_handlers(app: FastAPI) -> None:
    """Registers the handlers that give every error the same JSON shape."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(CiteqaError, _on_citeqa_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    # Normally the request-context middleware catches these first; this is the last resort.
    app.add_exception_handler(Exception, _on_unhandled)


class PayloadTooLargeError(StarletteHTTPException):
    """Raised while reading a body that grows past the limit (FastAPI re-raises HTTPException)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")
        self.limit = limit
