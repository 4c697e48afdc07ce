"""llama.cpp's OpenAI-compatible server, in-process (``xllamacpp``), bound to loopback.

The server process owns one model; citeqa reaches it over HTTP through litellm like any
OpenAI-compatible server (``CITEQA_LLM_MODEL=openai/<alias>``, ``CITEQA_LLM_API_BASE=<url>/v1``).

Example::

    with LocalLLMServer(path, port=8081) as server:
        print(server.base_url)
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from index.errors import CiteqaError

logger = logging.getLogger(__name__)

MODEL_ALIAS = "citeqa-local"


class LLMServerError(CiteqaError):
    """The local model server could not start."""


@dataclass(frozen=True)
class ServerConfig:
    """How the server runs: context window, threads, slots (one: the cores are few)."""

    host: str = "127.0.0.1"
    port: int = 8081
    n_ctx: int = 4096
    threads: int = 0  # 0: one core less than the machine has (at least one)
    parallel: int = 1
    alias: str = MODEL_ALIAS


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """Starts llama.cpp's server on ``config.host:config.port`` over the GGUF file ``path``."""

    def __init__(self, path: Path, config: ServerConfig | None = None) -> None:
        self.path = path
        self.config = config or ServerConfig()
        self._server: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}/v1"

    def start(self) -> None:
        try:
            import xllamacpp
        except ImportError as exc:
            raise LLMServerError("xllamacpp is not installed; run `make llm`") from exc
        cfg = self.config
        # llama.cpp's threads wait for each other at every layer: on cores shared with other work
        # a thread that is descheduled stalls them all (2 threads on 2 busy cores generated at
        # ~1.5 tokens/s here, 1 thread at ~7.5), so one core is left free by default.
        threads = cfg.threads or max(1, (os.cpu_count() or 1) - 1)
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.hostnames = [cfg.host]
        params.port = cfg.port
        params.n_ctx = cfg.n_ctx
        params.n_parallel = cfg.parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.model_alias = cfg.alias
        params.cache_prompt = True
        params.endpoint_metrics = True
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:
            raise LLMServerError(f"llama.cpp server failed to start: {exc}") from exc
        logger.info("local LLM %s serving at %s", self.path.name, self.base_url)

    def stop(self) -> None:
        self._server = None  # the server's destructor stops its threads

    def __enter__(self) -> LocalLLMServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
