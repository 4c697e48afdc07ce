"""An ASGI app served by uvicorn on a free loopback port in a thread, for tests over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ServerThread:
    """uvicorn serving ``app`` on a free loopback port in a thread; ``stop()`` ends it.

    Keyword arguments go to ``uvicorn.Config`` (default: warnings only in the log).
    """

    def __init__(self, app: Any, **config: Any) -> None:
        import uvicorn

        options: dict[str, Any] = {"log_level": "warning", **config}
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **options))
        self.thread = threading.Thread(target=self.server.run, name="test-uvicorn", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 20) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Runs ``app`` (its lifespan included, uvicorn's logging left alone) for the ``with`` block;
    yields the base URL."""
    server = ServerThread(
        app, log_config=None, log_level=None, access_log=False, lifespan="on"
    ).start()
    try:
        yield server.url
    finally:
        server.stop()
