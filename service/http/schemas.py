"""Pydantic models of the HTTP API (requests validated strictly; responses documented).

Native endpoints forbid unknown fields so a typo (``topk``) is an error, not a silent default.
The OpenAI-compatible models (``routes.openai``) are lenient instead, because real clients send
many optional fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50

# "Contains at least one character Python does not count as whitespace" (the pipeline strips with
# str.strip): \s alone misses \x1c-\x1f and \x85 in ECMA regexes. Patterns are unanchored searches.
_NON_BLANK = r"[^\s\x1c-\x1f\x85]"
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Absolute caps of the schema; the configured (smaller) limits are checked by the route.
HARD_MAX_TURNS = 200
HARD_MAX_ANSWER_CHARS = 100_000

# Strict so that "5", 0/1 for booleans or numbers for strings are errors rather than coerced.
_STRICT = ConfigDict(extra="forbid", strict=True)


def _json_number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


# JSON Schema counts 14.0 as an integer, so integral floats are accepted; strings and bools are not.
JsonInt = Annotated[int, Strict(False), BeforeValidator(_json_number)]


class Filters(BaseModel):
    """Restricts retrieval to some documents."""

    model_config = _STRICT

    doc_id: str | list[str] | None = Field(
        default=None, description="one document id or a list of them"
    )
    title_contains: str | None = Field(
        default=None, max_length=500, description="case-insensitive substring of the title"
    )

    def to_mapping(self) -> dict[str, Any] | None:
        data = self.model_dump(exclude_none=True)
        return data or None


class HistoryCitationIn(BaseModel):
    """A citation of an earlier answer, as ``/ask`` returned it (unknown fields ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: JsonInt
    doc_id: str = Field(max_length=200)
    chunk_id: str = Field(default="", max_length=200)
    title: str = Field(default="", max_length=2000)
    quote: str = Field(default="", max_length=20_000)
    start: JsonInt = Field(default=0, ge=0)
    end: JsonInt = Field(default=0, ge=0)


class TurnIn(BaseModel):
    """One earlier turn of the conversation: the question and the answer ``/ask`` gave."""

    model_config = ConfigDict(extra="ignore", strict=True)

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=_NON_BLANK)
    answer: str = Field(max_length=HARD_MAX_ANSWER_CHARS)
    citations: list[HistoryCitationIn] = Field(default_factory=list, max_length=200)


class AskRequest(BaseModel):
    """``POST /ask``: a question about the corpus, optionally a follow-up in a conversation."""

    model_config = _STRICT

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, pattern=_NON_BLANK, examples=["Who?"]
    )
    top_k: JsonInt = Field(default=5, ge=1, le=MAX_TOP_K, description="passages to retrieve")
    filters: Filters | None = None
    stream: bool = Field(default=False, description="stream Server-Sent Events instead of JSON")
    history: list[TurnIn] = Field(
        default_factory=list,
        max_length=HARD_MAX_TURNS,
        description="earlier turns, oldest first (limits: CITEQA_HISTORY_MAX_TURNS, "
        "CITEQA_HISTORY_MAX_ANSWER_CHARS)",
    )
    conversation_id: str | None = Field(
        default=None,
        pattern=CONVERSATION_ID_PATTERN,
        description="a server-side conversation: its stored turns are the history, and this "
        "turn is added to it",
    )


class SearchRequest(BaseModel):
    """``POST /search``: ranked passages for a query, no answer."""

    model_config = _STRICT

    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=_NON_BLANK)
    top_k: JsonInt = Field(default=5, ge=1, le=MAX_TOP_K)
    mode: Literal["hybrid", "dense", "bm25"] | None = Field(
        default=None, description="retrieval mode; default from the server settings"
    )
    filters: Filters | None = None


class DocumentIn(BaseModel):
    """``POST /documents`` with a JSON body (multipart uploads use a ``file`` part instead)."""

    model_config = _STRICT

    id: str | None = Field(
        default=None,
        pattern=DOC_ID_PATTERN,
        description="document id; derived from the text when omitted; an existing id is replaced",
    )
    title: str | None = Field(default=None, max_length=500)
    text: str = Field(min_length=1, pattern=_NON_BLANK)
    source: str = Field(default="", max_length=2000)
    published_at: str | None = Field(default=None, max_length=64, examples=["2024-10-28"])


class FeedbackCitationIn(BaseModel):
    """A citation as the answer showed it (``CitationOut``; later fields such as ``page`` are
    accepted and not recorded)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: JsonInt
    doc_id: str = Field(max_length=200)
    chunk_id: str = Field(default="", max_length=200)
    title: str = Field(default="", max_length=2000)
    quote: str = Field(max_length=20_000)
    start: JsonInt = Field(ge=0)
    end: JsonInt = Field(ge=0)


class FeedbackAnswerIn(BaseModel):
    """The Answer JSON the reader judged, as ``POST /ask`` returned it (unknown fields ignored,
    so answers carrying newer fields are accepted)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    answer: str = Field(max_length=100_000)
    abstained: bool
    citations: list[FeedbackCitationIn] = Field(default_factory=list, max_length=200)
    model: str = Field(default="", max_length=500)
    prompt_version: str = Field(default="", max_length=200)
    index_version: str = Field(default="", max_length=200)


class FeedbackIn(BaseModel):
    """``POST /feedback``: a reader's verdict on one answer (from the web page)."""

    model_config = _STRICT

    verdict: Literal["helpful", "not_helpful"]
    comment: str | None = Field(default=None, max_length=2000)
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=_NON_BLANK)
    answer: FeedbackAnswerIn


# ---- responses -------------------------------------------------------------------------------


# The OpenAPI 3.1 schema of one Server-Sent Event (schemathesis and docs read each event with it).
ASK_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["delta", "citations", "done"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
CHAT_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}},
}


class CitationOut(BaseModel):
    id: int
    doc_id: str
    chunk_id: str
    title: str
    quote: str
    start: int
    end: int
    page: int | None = Field(default=None, description="1-based page (paginated documents)")
    page_end: int | None = Field(default=None, description="last page, if the quote spans two")
    origin: Literal["model", "attributed"] = Field(
        default="model",
        description="model: the generator quoted it; attributed: the verifier found the evidence",
    )


class AnswerSentenceOut(BaseModel):
    text: str
    citations: list[int]
    supported: bool


class ConflictValueOut(BaseModel):
    value: str
    citation: int
    doc_id: str
    attribution: str


class ConflictOut(BaseModel):
    topic: str
    values: list[ConflictValueOut]


class RetrievedChunkOut(BaseModel):
    chunk_id: str
    doc_id: str
    score: float


class AskResponse(BaseModel):
    """``Answer.to_dict()``: the answer with ``[n]`` markers and the citations they point to."""

    answer: str
    abstained: bool
    citations: list[CitationOut]
    sentences: list[AnswerSentenceOut]
    conflicts: list[ConflictOut]
    abstain_reason: str | None
    model: str
    prompt_version: str
    index_version: str
    retrieved: list[RetrievedChunkOut]
    timings_ms: dict[str, float]
    degraded: bool
    degraded_reason: str | None
    retrieval_query: str | None = Field(
        default=None, description="what was searched, when a follow-up was rewritten"
    )
    conversation_id: str | None = Field(
        default=None, description="the server-side conversation this turn was added to"
    )
    generator: str = Field(default="", description="who wrote the draft: llm or extractive")
    fallback_reason: str | None = Field(
        default=None, description="why a fallback answered: timeout, error or format"
    )


class HitOut(BaseModel):
    """One ranked passage (same fields as ``citeqa search --json``)."""

    doc_id: str
    chunk_id: str
    score: float
    start: int
    end: int
    text: str
    title: str
    rank: int


class SearchResponse(BaseModel):
    query: str
    hits: list[HitOut]
    index_version: str


class DocumentSummary(BaseModel):
    id: str
    title: str
    source: str
    published_at: str | None
    content_hash: str
    chars: int
    format: str = Field(description="how it was read: text, html, pdf or docx")
    pages: int = Field(description="number of pages (0 for formats without pages)")


class DocumentDetail(DocumentSummary):
    text: str = Field(description="the stored text every citation's offsets point into")
    page_spans: list[list[int]] = Field(
        description="[start, end) of each page in text, page 1 first (paginated formats)"
    )


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
    total: int
    index_version: str


class DocumentWritten(BaseModel):
    id: str
    title: str
    chunks: int
    index_version: str


class DocumentDeleted(BaseModel):
    id: str
    deleted: bool
    index_version: str


class FeedbackRecorded(BaseModel):
    recorded: bool
    timestamp: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    index_version: str
    documents: int
    chunks: int


# What each endpoint accepts, appended to validation error messages.
_HINTS = {
    "/ask": (
        '{"question": non-blank string of at most 2000 characters, "top_k": integer 1..50 '
        '(default 5), "filters": {"doc_id": string or list, "title_contains": string} (optional), '
        '"stream": boolean (optional), "history": [{"question", "answer", "citations"?}, ...] '
        '(optional, oldest first), "conversation_id": [A-Za-z0-9._-] up to 64 chars (optional)}'
    ),
    "/search": (
        '{"query": non-blank string of at most 2000 characters, "top_k": integer 1..50 '
        '(default 5), "mode": "hybrid" | "dense" | "bm25" (optional), "filters": {...} (optional)}'
    ),
    "/documents": (
        '{"text": non-blank string, "id": [A-Za-z0-9._-] up to 128 chars (optional), '
        '"title", "source", "published_at" (optional)} as JSON, or multipart/form-data with a '
        "'file' part (.txt, .md or .html, UTF-8) and the same optional fields"
    ),
    "/feedback": (
        '{"verdict": "helpful" | "not_helpful", "comment": string of at most 2000 characters '
        '(optional), "question": non-blank string, "answer": the Answer JSON from /ask}'
    ),
    "/v1/chat/completions": (
        '{"model": "citeqa", "messages": [{"role": "user", "content": "question"}], '
        '"stream": boolean (optional)}'
    ),
}


def request_hint(route_path: str) -> str | None:
    """What the endpoint at ``route_path`` accepts, for error messages."""
    return _HINTS.get(route_path)
