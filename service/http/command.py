"""``citeqa serve``: run the HTTP API with uvicorn (imported only when the command runs)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Seconds uvicorn waits for in-flight requests after SIGTERM/SIGINT before cancelling them.
DEFAULT_GRACEFUL_S = 30


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``serve``."""
    parser = sub.add_parser(
        "serve",
        help="run the HTTP API (answers, search, documents, OpenAI-compatible chat)",
        description=(
            "Serve the HTTP API. The model and index load in the background: /healthz answers at "
            "once, /readyz once loaded. When the index folder holds no index, one is built from "
            "the seeds first. Settings come from CITEQA_* environment variables."
        ),
    )
    parser.add_argument("--host", help="interface to bind (default: CITEQA_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: CITEQA_PORT or 8000)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: CITEQA_INDEX_DIR)")
    parser.add_argument(
        "--graceful-timeout",
        type=int,
        default=DEFAULT_GRACEFUL_S,
        help="seconds to let in-flight requests finish on shutdown (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); they share the index folder or the database, and "
        "each sees the others' writes within a second",
    )
    parser.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    # One OpenMP thread per request: the server gets its parallelism from concurrent requests in
    # worker threads. With torch's and faiss's OpenMP pools both at 2 threads on a busy 2-core
    # machine, their spinning workers made one search ~30x slower (1000 ms vs 30 ms p50).
    # Set before the background loader imports torch/faiss; an explicit value is respected.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from service.http.app import create_app
    from service.http.logs import configure_json_logging
    from service.settings import Settings

    overrides: dict[str, Any] = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("index_dir", args.index_dir))
        if value is not None
    }
    settings = Settings(**overrides)
    configure_json_logging(getattr(logging, args.log_level.upper()))
    logger.info(
        "starting citeqa on http://%s:%d (index %s)",
        settings.host,
        settings.port,
        settings.index_dir,
        extra={"api_keys": len(settings.api_keys)},
    )
    if args.workers > 1:
        # Each worker process builds its app from the environment: pass the overrides on.
        for key, value in overrides.items():
            os.environ[f"CITEQA_{key.upper()}"] = str(value)
        run_workers(args.workers, settings.host, settings.port, args.graceful_timeout)
        return 0
    run_server(create_app(settings), settings.host, settings.port, args.graceful_timeout)
    return 0


def app_from_environment() -> Any:
    """The app of one worker process (``uvicorn --factory``): settings from ``CITEQA_*``."""
    from service.http.app import create_app
    from service.http.logs import configure_json_logging
    from service.settings import Settings

    configure_json_logging(logging.INFO)
    return create_app(Settings())


def run_workers(workers: int, host: str, port: int, graceful_s: int = DEFAULT_GRACEFUL_S) -> None:
    """Runs ``workers`` uvicorn worker processes on one socket until SIGINT/SIGTERM."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "service.http.command:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful_s,
        server_header=False,
        lifespan="on",
    )
    # uvicorn's own bind_socket() leaves the protocol number 0, so asyncio never sets
    # TCP_NODELAY on the workers' connections and every keep-alive response waits for a
    # delayed ACK (~40 ms: one client got 19 requests/s instead of 160 with 2 workers).
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(info[4])
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


def run_server(app: Any, host: str, port: int, graceful_s: int = DEFAULT_GRACEFUL_S) -> None:
    """Runs uvicorn until SIGINT/SIGTERM, then drains in-flight requests for ``graceful_s``."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep our JSON root handler
        access_log=False,  # the request middleware logs each request with its id
        timeout_graceful_shutdown=graceful_s,
        server_header=False,
        lifespan="on",
    )
    uvicorn.Server(config).run()
