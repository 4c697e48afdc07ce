"""``create_app(settings)``: the one place the HTTP service is wired together.

Example::

    app = create_app(Settings(index_dir=Path(".citeqa/index")))   # then run with uvicorn

Importing this module is cheap: the embedder, index, pipeline and their heavy libraries load in a
background thread started by the lifespan (see ``lifecycle``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from fastapi import FastAPI

from service import wiring
from service.answering.protocol import Answerer
from service.http.deps import AppContext, DocumentFactory, IngestDocumentFactory
from service.http.errors import COMMON_ERRORS, install_error_handlers
from service.http.lifecycle import (
    Components,
    Loader,
    ServedIndex,
    ServedPipeline,
    ServiceState,
    make_lifespan,
)
from service.http.metrics import ServiceMetrics
from service.http.middleware import (
    ApiKeyAuthMiddleware,
    BodyLimitMiddleware,
    DeadlineMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
    TokenBucket,
)
from service.http.routes import ask, documents, feedback, health, openai, search, web
from service.settings import Settings

logger = logging.getLogger(__name__)

HTTP_EXTENSIONS = "citeqa.http_extensions"
# extend(app, settings, get_answerer): adds routes of another adapter to the app.
HttpExtension = Callable[[FastAPI, Settings, Callable[[], Answerer]], None]

_HEALTH_PATHS = ("/healthz", "/readyz")
_UNLIMITED_PATHS = (*_HEALTH_PATHS, "/metrics")
# The page itself must load without a key: it then asks the reader for one.
_PUBLIC_PATHS = (*_HEALTH_PATHS, "/")
_PUBLIC_PREFIXES = ("/slack/", f"{web.STATIC_PREFIX}/")


def create_app(
    settings: Settings,
    *,
    index: ServedIndex | None = None,
    pipeline: ServedPipeline | None = None,
    loader: Loader | None = None,
    document_factory: DocumentFactory | None = None,
    extensions: Sequence[HttpExtension] | None = None,
) -> FastAPI:
    """Builds the FastAPI app. ``index``/``pipeline``/``loader``/``document_factory`` let tests
    inject fakes; by default everything loads from ``settings`` in the background.
    ``extensions`` defaults to the ``citeqa.http_extensions`` entry points."""
    state = ServiceState()
    metrics = ServiceMetrics()

    def on_ready(comps: Components) -> None:
        metrics.ready.set(1)
        metrics.bind_index_size(
            lambda: float(comps.index.n_documents), lambda: float(comps.index.n_chunks)
        )

    app = FastAPI(
        title="citeqa",
        summary="Answers from a document corpus, with citations a reader can check.",
        version="0.1.0",
        lifespan=make_lifespan(
            settings, state, index=index, pipeline=pipeline, loader=loader, on_ready=on_ready
        ),
        responses=COMMON_ERRORS,
    )
    app.state.citeqa = AppContext(
        settings=settings,
        state=state,
        metrics=metrics,
        documents=document_factory or IngestDocumentFactory(settings.max_upload_bytes),
    )
    install_error_handlers(app)
    for module in (health, ask, search, documents, feedback, openai):
        app.include_router(module.router)
    web.mount(app)
    ask.document_history_limits(app, settings)

    # Other adapters' routes (Slack's /slack/events), registered as entry points.
    for extend in extensions if extensions is not None else wiring.plugins(HTTP_EXTENSIONS):
        extend(app, settings, state.get_pipeline)  # type: ignore[operator]

    # add_middleware wraps what is already there, so the last one added runs first.
    app.add_middleware(
        DeadlineMiddleware, deadline_s=settings.request_deadline_s, exempt=_UNLIMITED_PATHS
    )
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
    )
    app.add_middleware(
        RateLimitMiddleware,
        limiter=TokenBucket(settings.rate_limit_per_minute),
        metrics=metrics,
        exempt=_UNLIMITED_PATHS,
    )
    app.add_middleware(
        ApiKeyAuthMiddleware,
        keys=[k.get_secret_value() for k in settings.api_keys],
        public_paths=_PUBLIC_PATHS,
        public_prefixes=_PUBLIC_PREFIXES,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
