"""``/healthz`` (process is up), ``/readyz`` (model and index loaded) and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from index.errors import ServiceNotReadyError
from service.http.deps import context
from service.http.errors import READY_ERRORS, citeqa_error_response
from service.http.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the model and index are loaded",
    responses=READY_ERRORS,
)
async def readyz(request: Request) -> JSONResponse:
    try:
        comps = context(request).state.components()
    except ServiceNotReadyError as exc:
        return citeqa_error_response(exc)
    index = comps.index
    return JSONResponse(
        {
            "status": "ready",
            "index_version": index.version,
            "documents": index.n_documents,
            "chunks": index.n_chunks,
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(context(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
