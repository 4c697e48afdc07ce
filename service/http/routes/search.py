"""``POST /search``: ranked passages without an answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from index.models import Hit
from service.http.deps import context, ready, run_cpu
from service.http.errors import BODY_ERRORS, READY_ERRORS
from service.http.lifecycle import Components
from service.http.schemas import SearchRequest, SearchResponse

router = APIRouter(tags=["search"])


def hit_json(hit: Hit) -> dict[str, Any]:
    """The hit fields of ``citeqa search --json`` (``index.corpus.hit_to_dict``)."""
    chunk = hit.chunk
    return {
        "doc_id": chunk.doc_id,
        "chunk_id": chunk.id,
        "score": round(float(hit.score), 6),
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text,
        "title": chunk.title,
        "rank": hit.rank,
    }


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Ranked passages for a query",
    responses={**BODY_ERRORS, **READY_ERRORS},
)
async def search(
    body: SearchRequest, request: Request, comps: Annotated[Components, Depends(ready)]
) -> JSONResponse:
    mode = body.mode or context(request).settings.retrieval
    filters = body.filters.to_mapping() if body.filters else None
    index = comps.index
    version = index.version
    hits = await run_cpu(index.search, body.query, top_k=body.top_k, mode=mode, filters=filters)
    return JSONResponse(
        {"query": body.query, "hits": [hit_json(h) for h in hits], "index_version": version}
    )
