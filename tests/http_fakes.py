"""Fakes and helpers for the HTTP tests: a word-overlap index over the seeds, a pipeline that
quotes the best passage, a document factory, and a live uvicorn server in a thread."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.errors import (
    DocumentNotFoundError,
    GenerationError,
    InvalidDocumentError,
    InvalidQueryError,
)
from index.models import Chunk, Document, Hit, make_chunk_id
from service.answering.types import Answer, AnswerSentence, Citation, RetrievedChunk

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "to",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "what",
        "who",
        "how",
        "many",
        "did",
        "does",
        "do",
    ]
)


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


@dataclass(frozen=True)
class FakeReport:
    documents: int
    chunks: int
    doc_ids: list[str]


@dataclass(frozen=True)
class _Snapshot:
    docs: dict[str, Document]
    chunks: tuple[Chunk, ...]
    version: int


def _paragraph_chunks(doc: Document) -> list[Chunk]:
    chunks = []
    for m in re.finditer(r"[^\n]+", doc.text):
        if m.group().strip():
            start, end = m.span()
            chunks.append(
                Chunk(make_chunk_id(doc.id, start, end), doc.id, start, end, m.group(), doc.title)
            )
    return chunks


class FakeIndex:
    """Copy-on-write index: readers take one snapshot, writers swap a new one in under a lock."""

    def __init__(self, docs: Sequence[Document] = ()) -> None:
        self._lock = threading.Lock()
        self._snap = _Snapshot({}, (), 0)
        self.write_delay = 0.0
        if docs:
            self.add_documents(docs)

    @classmethod
    def from_seeds(cls) -> FakeIndex:
        docs = []
        for path in sorted(SEEDS.glob("*.txt")):
            text = path.read_text(encoding="utf-8")
            title = next((ln.strip() for ln in text.splitlines() if ln.strip()), path.stem)
            docs.append(Document(id=path.stem, text=text, title=title))
        return cls(docs)

    @property
    def version(self) -> str:
        return f"fake-{self._snap.version}"

    @property
    def n_documents(self) -> int:
        return len(self._snap.docs)

    @property
    def n_chunks(self) -> int:
        return len(self._snap.chunks)

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: str = "hybrid",
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        snap = self._snap
        allowed: set[str] | None = None
        title_part: str | None = None
        for key, value in (filters or {}).items():
            if key == "doc_id":
                allowed = {value} if isinstance(value, str) else set(value)
            elif key == "title_contains":
                title_part = str(value).lower()
            else:
                raise InvalidQueryError(f"unknown filter {key!r}")
        q = words(query)
        scored = []
        for chunk in snap.chunks:
            if allowed is not None and chunk.doc_id not in allowed:
                continue
            if title_part is not None and title_part not in chunk.title.lower():
                continue
            overlap = len(q & words(chunk.text))
            if overlap:
                scored.append((overlap / (len(q) or 1), chunk))
        scored.sort(key=lambda sc: (-sc[0], sc[1].id))
        return [Hit(chunk=c, score=s, rank=i + 1) for i, (s, c) in enumerate(scored[:top_k])]

    def add_documents(self, docs: Sequence[Document], progress: Any = None) -> FakeReport:
        with self._lock:
            time.sleep(self.write_delay)
            snap = self._snap
            new_docs = dict(snap.docs)
            ids = {d.id for d in docs}
            chunks = [c for c in snap.chunks if c.doc_id not in ids]
            n_new = 0
            for doc in docs:
                new_docs[doc.id] = doc
                fresh = _paragraph_chunks(doc)
                chunks.extend(fresh)
                n_new += len(fresh)
            self._snap = _Snapshot(new_docs, tuple(chunks), snap.version + 1)
        return FakeReport(len(docs), n_new, [d.id for d in docs])

    def delete_document(self, doc_id: str) -> None:
        with self._lock:
            time.sleep(self.write_delay)
            snap = self._snap
            if doc_id not in snap.docs:
                raise DocumentNotFoundError(f"no document with id {doc_id!r}")
            docs = {k: v for k, v in snap.docs.items() if k != doc_id}
            chunks = tuple(c for c in snap.chunks if c.doc_id != doc_id)
            self._snap = _Snapshot(docs, chunks, snap.version + 1)

    def get_document(self, doc_id: str) -> Document:
        try:
            return self._snap.docs[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}") from None

    def list_documents(self) -> list[Document]:
        return list(self._snap.docs.values())


ABSTAIN_TEXT = "The documents do not say."


class FakePipeline:
    """Quotes the first sentence of the best passage; can be slowed down or made to fail."""

    def __init__(
        self, index: FakeIndex, delay: float = 0.0, error: Exception | None = None
    ) -> None:
        self.index = index
        self.delay = delay
        self.error = error
        self.calls = 0

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> Answer:
        self.calls += 1
        if not question.strip():
            raise InvalidQueryError("the question is empty")
        if len(question) > 2000:
            raise InvalidQueryError("the question is longer than 2000 characters")
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        version = self.index.version
        hits = self.index.search(question, top_k=top_k or 5, filters=filters)
        retrieved = tuple(RetrievedChunk(h.chunk.id, h.chunk.doc_id, h.score) for h in hits)
        if not hits or hits[0].score < 0.34:
            return Answer(
                answer=ABSTAIN_TEXT,
                abstained=True,
                abstain_reason="no_relevant_passages",
                model="fake",
                index_version=version,
                retrieved=retrieved,
            )
        chunk = hits[0].chunk
        first = re.match(r".*?[.!?](?=\s|$)|.+", chunk.text)
        quote = first.group() if first else chunk.text
        start = chunk.start
        citation = Citation(
            1, chunk.doc_id, chunk.id, chunk.title, quote, start, start + len(quote)
        )
        text = f"{quote} [1]"
        return Answer(
            answer=text,
            abstained=False,
            citations=(citation,),
            sentences=(AnswerSentence(text, (1,)),),
            model="fake",
            prompt_version="fake-1",
            index_version=version,
            retrieved=retrieved,
            timings_ms={"total": 0.1},
        )


class FakeDocumentFactory:
    """Builds documents like ``index.ingestion.reading`` would, with its checks (empty, binary,
    non-UTF-8)."""

    def from_text(
        self,
        text: str,
        doc_id: str | None,
        title: str | None,
        source: str,
        published_at: str | None,
    ) -> Document:
        if not text.strip():
            raise InvalidDocumentError(doc_id or "document", "the text is empty")
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return Document(
            id=doc_id or f"doc-{abs(hash(text)) % 10**8}",
            text=text,
            title=title or first[:100],
            source=source,
            published_at=published_at,
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
        if b"\x00" in data:
            raise InvalidDocumentError(name, "looks like a binary file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidDocumentError(name, "is not valid UTF-8 text") from None
        return self.from_text(text, doc_id or Path(name).stem, title, source, published_at)


def fake_parts(
    delay: float = 0.0, error: Exception | None = None
) -> tuple[FakeIndex, FakePipeline]:
    index = FakeIndex.from_seeds()
    return index, FakePipeline(index, delay=delay, error=error)


def generation_failure() -> GenerationError:
    return GenerationError("provider said: secret-upstream-detail")


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Runs ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
