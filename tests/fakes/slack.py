"""A fake of slack.com for the Slack tests, plus Slack-style request signing and payloads.

``FakeSlack`` serves the Web API, a Socket Mode WebSocket and response_url endpoints on 127.0.0.1
for the real slack_sdk clients; the functions build and sign what Slack would send the bot.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import WSMsgType, web

BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0000001"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


@dataclass
class Call:
    """One request the fake Slack received."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    """A fake of slack.com on a free loopback port, driven by the real slack_sdk clients.

    Records every Web API call (``/api/<method>``), every POST to ``/respond/<name>`` (a slash
    command's or button's response_url) and, for Socket Mode, serves ``apps.connections.open`` and
    a WebSocket that tests push envelopes into. Keeps each channel's messages, the bot's
    (``chat.postMessage``, ``chat.update``) and those tests add (``add_message``), and serves a
    thread's with ``conversations.replies``.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._rate_limit_once: set[str] = set()
        self._fail_once: dict[str, str] = {}
        self._ts = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.port = 0
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_connected = threading.Event()
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> ts -> message

    # ------------------------------------------------------------------ control

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    def rate_limit_once(self, method: str) -> None:
        """The next call of ``method`` gets 429 with ``Retry-After: 1``."""
        with self._lock:
            self._rate_limit_once.add(method)

    def fail_once(self, method: str, error: str) -> None:
        """The next call of ``method`` gets ``{"ok": false, "error": error}``."""
        with self._lock:
            self._fail_once[method] = error

    def add_message(
        self,
        channel: str,
        ts: str,
        text: str,
        *,
        user: str = "UHUMAN01",
        thread_ts: str | None = None,
    ) -> None:
        """A person's message in ``channel`` (in the thread ``thread_ts``), as Slack stores it."""
        message = {"type": "message", "user": user, "text": text, "ts": ts}
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        with self._lock:
            self._messages.setdefault(channel, {})[ts] = message

    def _thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        with self._lock:
            stored = list(self._messages.get(channel, {}).values())
        found = [m for m in stored if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]
        return sorted(found, key=lambda m: float(m["ts"]))

    def _keep_bot_message(self, method: str, params: dict[str, Any], ts: str) -> None:
        channel = str(params.get("channel"))
        with self._lock:
            channel_messages = self._messages.setdefault(channel, {})
            if method == "chat.update" and ts in channel_messages:
                channel_messages[ts]["text"] = params.get("text")
                return
            message = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "text": params.get("text"),
                "ts": ts,
            }
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            channel_messages[ts] = message

    def calls_of(self, method: str, **match: Any) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if c.method == method
            and c.status == 200
            and all(c.params.get(k) == v for k, v in match.items())
        ]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 15.0, **match: Any
    ) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls_of(method, **match)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"expected {count} {method} call(s) matching {match}; got {self.calls_of(method)}"
        )

    def start(self) -> FakeSlack:
        self._thread = threading.Thread(target=self._run, name="fake-slack", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Slack did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def send_envelope(self, envelope: dict[str, Any]) -> None:
        """Pushes a Socket Mode envelope to every connected client."""
        assert self._loop is not None

        async def send() -> None:
            for ws in list(self._sockets):
                await ws.send_str(json.dumps(envelope))

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)

    # ----------------------------------------------------------------- serving

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk GETs conversations.replies
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for ws in self._sockets:
                loop.run_until_complete(ws.close())
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        status: int = 200,
        response: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            self.calls.append(Call(method, params, time.monotonic(), status, response or {}))

    def _next_ts(self) -> str:
        # Slack's ts is the posting time (unique per channel): threads sort by it.
        with self._lock:
            self._ts = max(self._ts + 0.000001, time.time())
            return f"{self._ts:.6f}"

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query)
        elif request.content_type == "application/json":
            params = dict(await request.json())
        else:
            params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
            if isinstance(params.get("blocks"), str):
                params["blocks"] = json.loads(params["blocks"])
        with self._lock:
            limited = method in self._rate_limit_once
            self._rate_limit_once.discard(method)
            failure = self._fail_once.pop(method, None)
        if limited:
            self._record(method, params, status=429)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if failure is not None:
            self._record(method, params, status=400)
            return web.json_response({"ok": False, "error": failure})
        body: dict[str, Any] = {"ok": True}
        if method == "auth.test":
            body.update(
                user_id=BOT_USER_ID, bot_id=BOT_ID, team_id=TEAM_ID, user="citeqa", team="test"
            )
        elif method == "apps.connections.open":
            body["url"] = f"ws://127.0.0.1:{self.port}/socket"
        elif method in ("chat.postMessage", "chat.update"):
            ts = params.get("ts") or self._next_ts()
            body.update(channel=params.get("channel"), ts=ts, message={"text": params.get("text")})
            self._keep_bot_message(method, params, str(ts))
        elif method == "conversations.replies":
            messages = self._thread_messages(str(params.get("channel")), str(params.get("ts")))
            body.update(messages=messages, has_more=False)
        elif method == "chat.postEphemeral":
            body["message_ts"] = self._next_ts()
        self._record(method, params, response=body)
        return web.json_response(body)

    async def _respond(self, request: web.Request) -> web.Response:
        params = dict(await request.json())
        params["_name"] = request.match_info["name"]
        self._record("respond", params)
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.socket_connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                with self._lock:
                    self.socket_acks.append(data)
        self._sockets.remove(ws)
        return ws


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """Slack's v0 signature: HMAC-SHA256 over ``v0:{timestamp}:{body}``."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post_signed(
    base_url: str,
    body: str,
    *,
    content_type: str = "application/json",
    timestamp: int | None = None,
    secret: str = SIGNING_SECRET,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POSTs ``body`` to ``/slack/events`` signed exactly as Slack signs requests."""
    ts = int(time.time()) if timestamp is None else timestamp
    all_headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature or sign(body, ts, secret),
        **(headers or {}),
    }
    return httpx.post(f"{base_url}/slack/events", content=body, headers=all_headers, timeout=10)


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM_ID,
            "api_app_id": "A0000001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            "event": event,
        }
    )


def form_body(fields: dict[str, str]) -> str:
    return urllib.parse.urlencode(fields)


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text string inside ``blocks``."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), dict):
                out.append(element["text"]["text"])
            elif isinstance(element.get("text"), str):
                out.append(element["text"])
    return out
