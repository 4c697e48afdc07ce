"""``POST /feedback``: the web page's Helpful / Not helpful clicks.

Appended through the same :class:`~service.feedback.FeedbackLog` as Slack's buttons (one
JSON line, locked and fsynced, ``CITEQA_FEEDBACK_FILE``), with ``source: "web"`` and the optional
comment. No person is identified: ``user_hash`` is the salted hash of the API key's slot
(``key#0``...) when keys are configured, else of ``"web:anonymous"``; never an IP address.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.answering.types import Answer, Citation
from service.feedback import FeedbackLog, FeedbackRecord
from service.http.deps import context, run_cpu
from service.http.errors import BODY_ERRORS
from service.http.schemas import FeedbackAnswerIn, FeedbackIn, FeedbackRecorded

router = APIRouter(tags=["feedback"])

_open_lock = threading.Lock()


@dataclass(frozen=True)
class WebFeedbackRecord(FeedbackRecord):
    """A feedback line from the web page: Slack's fields plus the reader's comment."""

    comment: str | None = None


def feedback_log(request: Request) -> FeedbackLog:
    """The app's feedback log, opened (salt read or created) on first use."""
    state = request.app.state
    with _open_lock:
        log = getattr(state, "feedback_log", None)
        if not isinstance(log, FeedbackLog):
            log = FeedbackLog.open(context(request).settings.feedback_file)
            state.feedback_log = log
    return log


def _answer(data: FeedbackAnswerIn) -> Answer:
    citations = tuple(Citation(**c.model_dump()) for c in data.citations)
    return Answer(
        answer=data.answer,
        abstained=data.abstained,
        citations=citations,
        model=data.model,
        prompt_version=data.prompt_version,
        index_version=data.index_version,
    )


def _record(request: Request, body: FeedbackIn) -> WebFeedbackRecord:
    log = feedback_log(request)
    who = request.scope.get("state", {}).get("client_id") or "anonymous"
    base = log.make_record(
        verdict=body.verdict,
        question=body.question,
        answer=_answer(body.answer),
        user_id=f"web:{who}",
    )
    comment = (body.comment or "").strip() or None
    record = WebFeedbackRecord(**{**asdict(base), "source": "web", "comment": comment})
    log.append(record)
    return record


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackRecorded,
    summary="Record a reader's verdict on an answer",
    responses=BODY_ERRORS,
)
async def post_feedback(body: FeedbackIn, request: Request) -> JSONResponse:
    record = await run_cpu(_record, request, body)
    return JSONResponse({"recorded": True, "timestamp": record.timestamp}, status_code=201)
