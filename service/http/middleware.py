"""Pure ASGI middlewares: request id + access log + metrics, API keys, rate limit, body size
limit and per-request deadline.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass through untouched and the body
limit can act on bytes as they arrive. Order, outermost first (see ``app.create_app``)::

    RequestContext -> ApiKeyAuth -> RateLimit -> BodyLimit -> Deadline -> FastAPI routes
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Collection, Sequence

import anyio
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http.errors import PayloadTooLargeError, error_response, internal_error_response
from service.http.logs import reset_request_id, set_request_id
from service.http.metrics import ServiceMetrics

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("citeqa.http.access")

# An incoming X-Request-ID is kept only if it is short and made of safe characters (it ends up in
# logs and headers); anything else is replaced by a fresh id.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _state(scope: Scope) -> dict[str, object]:
    state = scope.setdefault("state", {})
    assert isinstance(state, dict)
    return state


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/documents/{doc_id}``), to keep metric labels few."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "<unmatched>"


class RequestContextMiddleware:
    """Gives each request an id (header, logs), measures it, and turns crashes into a JSON 500."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        _state(scope)["request_id"] = rid
        token = set_request_id(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error while serving %s %s", scope["method"], scope["path"])
            if not response_started:
                await internal_error_response()(scope, receive, send_with_id)
            status = 500
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            client = scope.get("client")
            access_logger.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "client": client[0] if client else None,
                },
            )
            reset_request_id(token)


def _key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeyAuthMiddleware:
    """When API keys are configured, requires ``Authorization: Bearer <key>`` except on
    ``public_paths`` and under ``public_prefixes`` (Slack's endpoint verifies its own signature).

    Keys are compared as sha256 digests with ``hmac.compare_digest`` against every configured key,
    so the time taken does not depend on how much of a key matched or on which key it was.
    """

    def __init__(
        self,
        app: ASGIApp,
        keys: Sequence[str],
        *,
        public_paths: Collection[str] = ("/healthz", "/readyz"),
        public_prefixes: Sequence[str] = ("/slack/",),
    ) -> None:
        self.app = app
        self._digests = [_key_digest(k) for k in keys]
        self._public_paths = frozenset(public_paths)
        self._public_prefixes = tuple(public_prefixes)

    def _identify(self, authorization: str | None) -> int | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = _key_digest(token.strip())
        matches = [hmac.compare_digest(given, d) for d in self._digests]
        return matches.index(True) if any(matches) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not self._digests
            or path in self._public_paths
            or path.startswith(self._public_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        which = self._identify(_header(scope, b"authorization"))
        if which is None:
            response = error_response(
                401,
                "unauthorized",
                "a valid API key is required: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="citeqa"'},
            )
            await response(scope, receive, send)
            return
        # The rate limiter buckets by key; an index (never the key itself) identifies it.
        _state(scope)["client_id"] = f"key#{which}"
        await self.app(scope, receive, send)


class TokenBucket:
    """Per-identity token buckets: ``rate_per_minute`` tokens per minute, refilled continuously,
    holding at most ``burst`` (default: one minute's worth)."""

    def __init__(
        self,
        rate_per_minute: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_identities: int = 10_000,
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = float(burst if burst is not None else rate_per_minute)
        self._clock = clock
        self._max = max_identities
        self._buckets: dict[str, tuple[float, float]] = {}  # id -> (tokens, last refill time)

    def acquire(self, identity: str) -> float:
        """Takes a token; returns 0 when allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, last = self._buckets.get(identity, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[identity] = (tokens - 1.0, now)
            self._prune(now)
            return 0.0
        self._buckets[identity] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        # Full buckets carry no information; dropping them bounds memory under many client IPs.
        if len(self._buckets) <= self._max:
            return
        refill = self.capacity / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}


class RateLimitMiddleware:
    """Token-bucket rate limit per API key, or per client IP when no keys are configured."""

    def __init__(
        self, app: ASGIApp, limiter: TokenBucket, metrics: ServiceMetrics, exempt: Collection[str]
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.metrics = metrics
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        identity = _state(scope).get("client_id")
        if identity is None:
            client = scope.get("client")
            identity = f"ip:{client[0] if client else 'unknown'}"
        wait = self.limiter.acquire(str(identity))
        if wait > 0:
            self.metrics.rate_limited.inc()
            retry = max(1, math.ceil(wait))
            response = error_response(
                429,
                "rate_limited",
                f"rate limit of {round(self.limiter.rate * 60)} requests per minute exceeded; "
                f"retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 without reading them whole: by Content-Length when
    given, else by counting bytes as they arrive (chunked uploads)."""

    def __init__(
        self,
        app: ASGIApp,
        default_limit: int,
        upload_limit: int,
        upload_routes: Collection[tuple[str, str]] = (("POST", "/documents"),),
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.upload_limit = upload_limit
        self.upload_routes = frozenset(upload_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = (scope["method"], scope["path"]) in self.upload_routes
        limit = self.upload_limit if is_upload else self.default_limit
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await error_response(400, "bad_request", "invalid Content-Length header")(
                    scope, receive, send
                )
                return
            if int(declared) > limit:
                await self._too_large(limit, scope, receive, send)
                return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLargeError:
            # Reached only if the body was read outside a route (routes map it via errors.py).
            if response_started:
                raise
            await self._too_large(limit, scope, receive, send)

    @staticmethod
    async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"request body is larger than the limit of {limit} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class DeadlineMiddleware:
    """Answers 504 when a request has not started its response within ``deadline_s``.

    Once the response starts (e.g. a stream of answer deltas) the deadline no longer applies, so a
    long stream is never cut in the middle. Blocking work runs in threads started with
    ``abandon_on_cancel=True`` (``deps.run_cpu``), so the deadline is not held up by them.
    """

    def __init__(self, app: ASGIApp, deadline_s: float, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.deadline_s = deadline_s
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        started = False
        with anyio.CancelScope(deadline=anyio.current_time() + self.deadline_s) as cancel_scope:

            async def send_and_lift(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    cancel_scope.deadline = math.inf
                await send(message)

            await self.app(scope, receive, send_and_lift)
        if cancel_scope.cancelled_caught and not started:
            logger.warning(
                "deadline of %.1fs exceeded on %s %s",
                self.deadline_s,
                scope["method"],
                scope["path"],
            )
            response = error_response(
                504,
                "deadline_exceeded",
                f"the request took longer than the {self.deadline_s:g} s deadline",
            )
            await response(scope, receive, send)
