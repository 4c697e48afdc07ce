"""Request-scoped helpers shared by the route modules."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio.to_thread
from fastapi import Request

from index.models import Document
from service.http.lifecycle import Components, ServiceState
from service.http.metrics import ServiceMetrics
from service.settings import Settings

T = TypeVar("T")


class DocumentFactory(Protocol):
    """Builds documents from API input (``index.ingestion.reading`` by default; tests inject
    fakes)."""

    def from_text(
        self,
        text: str,
        doc_id: str | None,
        title: str | None,
        source: str,
        published_at: str | None,
    ) -> Document: ...

    def from_bytes(
        self,
        name: str,
        data: bytes,
        doc_id: str | None,
        title: str | None,
        source: str,
        published_at: str | None,
    ) -> Document: ...


class IngestDocumentFactory:
    """``index.ingestion.reading`` behind :class:`DocumentFactory` (imported on first use)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def from_text(
        self,
        text: str,
        doc_id: str | None,
        title: str | None,
        source: str,
        published_at: str | None,
    ) -> Document:
        from index.ingestion.reading import document_from_text

        return document_from_text(
            text, doc_id=doc_id, title=title, source=source, published_at=published_at
        )

    def from_bytes(
        self,
        name: str,
        data: bytes,
        doc_id: str | None,
        title: str | None,
        source: str,
        published_at: str | None,
    ) -> Document:
        from index.ingestion.reading import document_from_bytes

        return document_from_bytes(
            name,
            data,
            doc_id=doc_id,
            title=title,
            source=source,
            published_at=published_at,
            max_bytes=self.max_bytes,
        )


@dataclass
class AppContext:
    """Everything routes need, stored on ``app.state.citeqa``."""

    settings: Settings
    state: ServiceState
    metrics: ServiceMetrics
    documents: DocumentFactory
    started_at: float = field(default_factory=time.time)


def context(request: Request) -> AppContext:
    ctx = request.app.state.citeqa
    assert isinstance(ctx, AppContext)
    return ctx


def ready(request: Request) -> Components:
    """FastAPI dependency: the loaded index and pipeline, or 503 ``not_ready``."""
    return context(request).state.components()


async def run_cpu(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Runs blocking work (embedding, search, answering, index writes) in a worker thread.

    ``abandon_on_cancel`` lets the request deadline return 504 without waiting for the thread;
    the thread finishes on its own (index writes are atomic, so nothing is left half done).
    """
    call = functools.partial(func, *args, **kwargs)
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
