"""Start-up of the service: load the embedder, index and pipeline in a background thread.

The lifespan returns at once, so the server answers ``/healthz`` immediately and ``/readyz`` (503
until then) as soon as the loader finishes. Heavy libraries (torch, sentence-transformers, faiss,
litellm) are imported only inside the loader, never when ``service.http`` is imported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from fastapi import FastAPI

from index.errors import ServiceNotReadyError
from index.models import Document
from service.answering.generators.protocol import is_extractive
from service.answering.protocol import Answerer, AnsweringIndex
from service.settings import Settings

logger = logging.getLogger(__name__)


class ServedIndex(AnsweringIndex, Protocol):
    """What the HTTP adapter needs of ``index.corpus.CorpusIndex`` beyond answering."""

    @property
    def n_documents(self) -> int: ...

    @property
    def n_chunks(self) -> int: ...

    def add_documents(self, docs: Sequence[Document], progress: Any = None) -> Any: ...

    def delete_document(self, doc_id: str) -> None: ...

    def list_documents(self) -> list[Document]: ...


ServedPipeline: TypeAlias = Answerer


Loader = Callable[[Settings], tuple[ServedIndex, ServedPipeline]]


def load_components(settings: Settings) -> tuple[ServedIndex, ServedPipeline]:
    """The served index and pipeline, from the composition root."""
    from service import wiring

    return wiring.load_components(settings)


@dataclass(frozen=True)
class Components:
    """The loaded pieces a request is served from."""

    index: ServedIndex
    pipeline: ServedPipeline


class ServiceState:
    """Readiness of the service: ``starting`` -> ``ready`` or ``failed``."""

    def __init__(self) -> None:
        self.status: Literal["starting", "ready", "failed"] = "starting"
        self.error: str | None = None
        self._components: Components | None = None
        self._lock = threading.Lock()
        self.ready_event = threading.Event()

    def set_ready(self, index: ServedIndex, pipeline: ServedPipeline) -> None:
        with self._lock:
            self._components = Components(index, pipeline)
            self.status = "ready"
        self.ready_event.set()

    def set_failed(self, message: str) -> None:
        with self._lock:
            self.status = "failed"
            self.error = message

    def components(self) -> Components:
        """The loaded components, or :class:`ServiceNotReadyError` saying why there are none."""
        comps = self._components
        if comps is not None:
            return comps
        if self.status == "failed":
            raise ServiceNotReadyError(f"the service failed to start: {self.error}")
        raise ServiceNotReadyError("the service is still loading its model and index; retry soon")

    def get_pipeline(self) -> ServedPipeline:
        """Zero-argument accessor handed to other adapters (Slack)."""
        return self.components().pipeline


def _load_in_background(
    settings: Settings,
    state: ServiceState,
    loader: Loader,
    on_ready: Callable[[Components], None],
) -> None:
    try:
        index, pipeline = loader(settings)
        _warm_up(index, pipeline)
    except Exception as exc:
        logger.exception("start-up failed")
        state.set_failed(str(exc) or type(exc).__name__)
        return
    state.set_ready(index, pipeline)
    on_ready(state.components())
    logger.info("ready")
    if settings.reload_interval_s > 0:
        _watch_index(index, settings.reload_interval_s)
    if not is_extractive(settings.llm_model):
        _preload_llm_library()


def _watch_index(index: ServedIndex, interval_s: float) -> None:
    """Adopt writes made by other worker processes: the embedded index reloads when its
    manifest's version changes (a cheap read); the database needs nothing reloaded."""
    reload = getattr(index, "reload_if_changed", None)
    if reload is None:
        return

    def loop() -> None:
        while True:
            time.sleep(interval_s)
            try:
                if reload():
                    logger.info("index changed on disk; reloaded")
            except Exception:  # a failed check must not stop serving; the next one retries
                logger.warning("checking the index for changes failed", exc_info=True)

    threading.Thread(target=loop, name="citeqa-index-watch", daemon=True).start()


def _preload_llm_library() -> None:
    # litellm takes ~3 s to import: after readiness (so /readyz is not held back), import it here
    # so that the first /ask does not pay for it.
    from service import wiring

    try:
        started = time.perf_counter()
        wiring.preload_llm_library()
        logger.info("LLM library loaded in %.2fs", time.perf_counter() - started)
    except Exception:  # the first real answer will report the failure with its own error
        logger.warning("preloading the LLM library failed", exc_info=True)


def _warm_up(index: ServedIndex, pipeline: ServedPipeline) -> None:
    # One query through each path so the first real request does not pay for lazy initialisation.
    try:
        index.search("warm up", top_k=1)
    except Exception:  # a warm-up failure must not block readiness; real requests will report it
        logger.warning("warm-up search failed", exc_info=True)


def make_lifespan(
    settings: Settings,
    state: ServiceState,
    *,
    index: ServedIndex | None,
    pipeline: ServedPipeline | None,
    loader: Loader | None,
    on_ready: Callable[[Components], None],
) -> Callable[[FastAPI], Any]:
    """The app's lifespan: ready at once with injected components, else loads in a thread."""

    def build_only_pipeline(s: Settings) -> tuple[ServedIndex, ServedPipeline]:
        from service import wiring

        assert index is not None
        return index, wiring.build_answerer(s, index)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if index is not None and pipeline is not None:
            state.set_ready(index, pipeline)
            on_ready(state.components())
        elif state.status == "starting":
            chosen = loader or (build_only_pipeline if index is not None else load_components)
            thread = threading.Thread(
                target=_load_in_background,
                args=(settings, state, chosen, on_ready),
                name="citeqa-loader",
                daemon=True,
            )
            thread.start()
        yield

    return lifespan
