"""``/documents``: add (JSON or multipart upload), list, get and delete documents while serving.

Writes go through ``CorpusIndex`` (serialised, persisted atomically before returning), so
questions asked at the same time see either the old or the new index, never a mix.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from index.errors import InvalidDocumentError
from index.models import Document
from service.http.deps import context, ready, run_cpu
from service.http.errors import BODY_ERRORS, NOT_FOUND, READY_ERRORS, error_response
from service.http.lifecycle import Components
from service.http.schemas import (
    DocumentDeleted,
    DocumentDetail,
    DocumentIn,
    DocumentList,
    DocumentWritten,
)

router = APIRouter(tags=["documents"])

_UPLOAD_FIELDS = ("id", "title", "source", "published_at")

_DOCUMENT_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "id": DocumentIn.model_json_schema()["properties"]["id"],
                        "title": {"type": "string", "maxLength": 500},
                        "source": {"type": "string", "maxLength": 2000},
                        "published_at": {"type": "string", "maxLength": 64},
                    },
                }
            },
        },
    }
}


def summary_json(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "source": doc.source,
        "published_at": doc.published_at,
        "content_hash": doc.content_hash,
        "chars": len(doc.text),
        "format": doc.format,
        "pages": len(doc.pages),
    }


def _validation_error(exc: ValidationError) -> RequestValidationError:
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
    return RequestValidationError(errors)


async def _document_from_json(request: Request) -> Document:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body",),
                    "msg": "JSON decode error",
                    "ctx": {"error": str(exc)},
                }
            ]
        ) from exc
    try:
        body = DocumentIn.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    factory = context(request).documents
    return await run_cpu(
        factory.from_text, body.text, body.id, body.title, body.source, body.published_at
    )


async def _document_from_upload(request: Request) -> Document:
    async with request.form(max_files=1, max_fields=len(_UPLOAD_FIELDS)) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise RequestValidationError(
                [
                    {
                        "type": "missing",
                        "loc": ("body", "file"),
                        "msg": "a 'file' part with the document is required",
                    }
                ]
            )
        fields = {k: form.get(k) for k in _UPLOAD_FIELDS}
        data = await upload.read()
        name = upload.filename or "upload.txt"
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise RequestValidationError(
                [{"type": "string_type", "loc": ("body", key), "msg": "must be a text field"}]
            )
    meta = {k: v for k, v in fields.items() if isinstance(v, str)}
    try:
        checked = DocumentIn.model_validate({"text": "placeholder", **meta})
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    factory = context(request).documents
    return await run_cpu(
        factory.from_bytes,
        name,
        data,
        checked.id,
        checked.title,
        checked.source,
        checked.published_at,
    )


@router.post(
    "/documents",
    status_code=201,
    response_model=DocumentWritten,
    summary="Add or replace a document (JSON body or multipart file upload)",
    openapi_extra=_DOCUMENT_BODY_DOC,
    responses={**BODY_ERRORS, **READY_ERRORS, 415: {"description": "Unsupported content type"}},
)
async def add_document(
    request: Request, comps: Annotated[Components, Depends(ready)]
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        doc = await _document_from_upload(request)
    elif content_type in ("application/json", ""):
        doc = await _document_from_json(request)
    else:
        return error_response(
            415,
            "unsupported_media_type",
            "send application/json or multipart/form-data with a 'file' part",
        )
    if not doc.text.strip():
        raise InvalidDocumentError(doc.id, "the document has no text")
    report = await run_cpu(comps.index.add_documents, [doc])
    chunks = int(getattr(report, "chunks", 0))
    return JSONResponse(
        {"id": doc.id, "title": doc.title, "chunks": chunks, "index_version": comps.index.version},
        status_code=201,
    )


@router.get(
    "/documents",
    response_model=DocumentList,
    summary="List documents",
    responses={**READY_ERRORS, 422: BODY_ERRORS[422]},
)
async def list_documents(
    comps: Annotated[Components, Depends(ready)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    index = comps.index
    docs = await run_cpu(index.list_documents)
    docs = sorted(docs, key=lambda d: d.id)
    page = docs[offset : offset + limit]
    return JSONResponse(
        {
            "documents": [summary_json(d) for d in page],
            "total": len(docs),
            "index_version": index.version,
        }
    )


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentDetail,
    summary="One document with its full text",
    responses={**READY_ERRORS, **NOT_FOUND},
)
async def get_document(doc_id: str, comps: Annotated[Components, Depends(ready)]) -> JSONResponse:
    doc = await run_cpu(comps.index.get_document, doc_id)
    spans = [list(span) for span in doc.pages]
    return JSONResponse({**summary_json(doc), "text": doc.text, "page_spans": spans})


@router.delete(
    "/documents/{doc_id}",
    response_model=DocumentDeleted,
    summary="Delete a document and its chunks",
    responses={**READY_ERRORS, **NOT_FOUND},
)
async def delete_document(
    doc_id: str, comps: Annotated[Components, Depends(ready)]
) -> JSONResponse:
    await run_cpu(comps.index.delete_document, doc_id)
    return JSONResponse({"id": doc_id, "deleted": True, "index_version": comps.index.version})
