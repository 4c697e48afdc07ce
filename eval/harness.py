"""The eval runner: asks every gold question of a target and scores the outputs.

Two targets share one scoring path (outputs are always ``Answer.to_dict()``-shaped):

- ``InProcessTarget``: an object with ``.answer(question, top_k=..., model=...)`` (the real
  ``AnswerPipeline`` or a fake), plus optionally the index for retrieval metrics and documents.
- ``HttpTarget``: a running ``citeqa serve``: ``POST /ask`` for answers, ``POST /search`` for the
  ranked passages, ``GET /documents/{id}`` for the text citations are checked against. If a
  document cannot be fetched, its text is read from the local seeds folder (``<doc_id>.txt``),
  which is the same text the service indexed when it serves the seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from eval.aggregate import Metric, accuracy_by_tag, aggregate, latency_summary
from eval.gold import GoldItem
from eval.metrics import ItemScore, score_item
from index.errors import CiteqaError, DocumentNotFoundError
from service.answering.conversation import Turn
from service.answering.protocol import Answerer
from service.client import CiteqaClient, ask_body

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
RETRIEVAL_DEPTH = 10  # ranks scored by recall@10, MRR and nDCG@10
WARMUP_QUESTION = "What is this corpus about?"
MAX_ATTEMPTS = 3  # per HTTP request, only when the service answers 429


class Target(Protocol):
    """Something the harness can ask questions of."""

    description: str

    def ask(self, question: str, top_k: int | None, model: str | None) -> dict[str, Any]: ...

    def ranked_texts(self, question: str, mode: Mode) -> list[str] | None: ...

    def document_text(self, doc_id: str) -> str | None: ...


def _seed_text(seeds_dir: Path | None, doc_id: str) -> str | None:
    if seeds_dir is None or "/" in doc_id or doc_id.startswith("."):
        return None
    path = seeds_dir / f"{doc_id}.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else None


class InProcessTarget:
    """Calls a pipeline object directly; ``index`` (optional) gives retrieval and documents."""

    def __init__(
        self,
        pipeline: Answerer,
        index: Any | None = None,
        seeds_dir: Path | None = None,
        description: str = "in-process",
    ) -> None:
        self.pipeline = pipeline
        self.index = index
        self.seeds_dir = seeds_dir
        self.description = description

    def ask(
        self, question: str, top_k: int | None, model: str | None, history: Sequence[Turn] = ()
    ) -> dict[str, Any]:
        result = self.pipeline.answer(question, top_k=top_k, model=model, history=tuple(history))
        data = result.to_dict() if hasattr(result, "to_dict") else result
        if not isinstance(data, dict):
            raise TypeError(f"pipeline returned {type(result).__name__}, not an Answer")
        return data

    def ranked_texts(self, question: str, mode: Mode) -> list[str] | None:
        if self.index is None:
            return None
        hits = self.index.search(question, top_k=RETRIEVAL_DEPTH, mode=mode)
        return [str(h.chunk.text) for h in hits]

    def document_text(self, doc_id: str) -> str | None:
        if self.index is not None:
            try:
                return str(self.index.get_document(doc_id).text)
            except DocumentNotFoundError:
                return None
        return _seed_text(self.seeds_dir, doc_id)


class TargetError(Exception):
    """A request to the target failed; recorded on the item, never aborts the run."""


class HttpTarget:
    """A live citeqa service at ``base_url`` (``Authorization: Bearer`` when a key is given)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        seeds_dir: Path | None = None,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # Rate limited: wait as told (capped) rather than score a refusal as a wrong answer.
        self.client = CiteqaClient(
            base_url,
            api_key=api_key,
            timeout_s=timeout_s,
            retries_on_429=MAX_ATTEMPTS - 1,
            transport=transport,
        )
        self.base_url = self.client.base_url
        self.seeds_dir = seeds_dir
        self.description = f"url {self.base_url}"
        self.documents_from = "service"
        self.search_available = True

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return self.client.call(method, path, body)
        except CiteqaError as exc:
            raise TargetError(f"{path}: {type(exc).__name__}: {exc}") from exc

    def ask(
        self, question: str, top_k: int | None, model: str | None, history: Sequence[Turn] = ()
    ) -> dict[str, Any]:
        body = ask_body(question, top_k=top_k, model=model, history=history)
        return self._call("POST", "/ask", body)

    def ranked_texts(self, question: str, mode: Mode) -> list[str] | None:
        if not self.search_available:
            return None
        try:
            data = self._call(
                "POST", "/search", {"query": question, "top_k": RETRIEVAL_DEPTH, "mode": mode}
            )
        except TargetError as exc:
            logger.warning("retrieval metrics unavailable (POST /search failed): %s", exc)
            self.search_available = False
            return None
        return [str(h.get("text", "")) for h in data.get("hits", [])]

    def document_text(self, doc_id: str) -> str | None:
        try:
            text = self._call("GET", f"/documents/{doc_id}").get("text")
            if isinstance(text, str):
                return text
        except TargetError as exc:
            logger.info("GET /documents/%s failed: %s", doc_id, exc)
        self.documents_from = "seeds (fallback)"
        return _seed_text(self.seeds_dir, doc_id)


@dataclass(frozen=True)
class ItemRun:
    """What the target returned for one gold item, and how it was judged."""

    item: GoldItem
    output: dict[str, Any]
    score: ItemScore


@dataclass(frozen=True)
class EvalRun:
    """The outcome of one eval: per-item runs and the aggregate numbers."""

    runs: list[ItemRun]
    metrics: dict[str, Metric]
    by_tag: dict[str, Metric]
    latency: dict[str, dict[str, float]]
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def scores(self) -> list[ItemScore]:
        return [r.score for r in self.runs]


class DocumentCache:
    """Fetches each cited document's text once per run."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.texts: dict[str, str] = {}
        self.missing: set[str] = set()

    def for_citations(self, output: Mapping[str, Any]) -> dict[str, str]:
        for c in output.get("citations") or ():
            doc_id = str(c.get("doc_id"))
            if doc_id in self.texts or doc_id in self.missing:
                continue
            text = self.target.document_text(doc_id)
            if text is None:
                self.missing.add(doc_id)
            else:
                self.texts[doc_id] = text
        return self.texts


def warm_up(target: Target, top_k: int | None, model: str | None) -> None:
    """One unscored question, so one-off costs are not charged to the first scored one."""
    try:
        target.ask(WARMUP_QUESTION, top_k, model)
    except (CiteqaError, TargetError) as exc:
        logger.warning("warm-up question failed: %s", exc)


def ask_item(
    target: Target, item_id: str, question: str, top_k: int | None, model: str | None
) -> tuple[dict[str, Any], str | None, dict[str, float]]:
    """The output, the error (None when it answered) and the timings (``wall`` added) of one
    question; a failure or crash becomes an empty output with its error, never an exception."""
    error: str | None = None
    t0 = time.perf_counter()
    try:
        output = target.ask(question, top_k, model)
    except (CiteqaError, TargetError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        output = {"answer": "", "abstained": False, "citations": []}
    except Exception as exc:
        # A crash on one question is a result to report (and fails the gate), not a reason
        # to lose the other 59.
        logger.exception("%s crashed the target", item_id)
        error = f"{type(exc).__name__}: {exc}"
        output = {"answer": "", "abstained": False, "citations": []}
    wall_ms = (time.perf_counter() - t0) * 1000.0
    timings = {k: float(v) for k, v in (output.get("timings_ms") or {}).items() if _is_number(v)}
    timings["wall"] = round(wall_ms, 3)
    return output, error, timings


def run_eval(
    items: Sequence[GoldItem],
    target: Target,
    *,
    retrieval: Mode = "hybrid",
    top_k: int | None = None,
    model: str | None = None,
    with_retrieval: bool = True,
    warmup: bool = False,
    on_item: Callable[[GoldItem], None] | None = None,
) -> EvalRun:
    """Runs every item through ``target`` (sequentially: latency numbers stay meaningful).

    ``warmup`` asks one unscored question first, so one-off costs (importing litellm, first
    model call) are not charged to whichever gold item happens to come first.
    """
    if warmup:
        warm_up(target, top_k, model)
    started = time.perf_counter()
    docs = DocumentCache(target)
    runs: list[ItemRun] = []
    for item in items:
        output, error, timings = ask_item(target, item.id, item.question, top_k, model)
        ranked = None
        if with_retrieval and item.evidence and not item.expects_abstain:
            ranked = target.ranked_texts(item.question, retrieval)
        score = score_item(
            item,
            output,
            docs.for_citations(output),
            ranked_texts=ranked,
            error=error,
            timings_ms=timings,
        )
        runs.append(ItemRun(item, output, score))
        if on_item is not None:
            on_item(item)
    scores = [r.score for r in runs]
    config = {
        "target": target.description,
        "retrieval": retrieval,
        "top_k": top_k,
        "model": model or _first_model(runs),
        "n_items": len(items),
        "answer_models": sorted(
            {str(r.output.get("model")) for r in runs if r.output.get("model")}
        ),
        "degraded": sum(1 for r in runs if r.output.get("degraded")),
        "documents_missing": sorted(docs.missing),
    }
    return EvalRun(
        runs=runs,
        metrics=aggregate(scores),
        by_tag=accuracy_by_tag(scores),
        latency=latency_summary(scores),
        config=config,
        seconds=time.perf_counter() - started,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _first_model(runs: Sequence[ItemRun]) -> str:
    return next((str(r.output["model"]) for r in runs if r.output.get("model")), "")


def fresh_index(
    args: argparse.Namespace,
    settings: Any,
    docs_dir: Path,
    embedder: Any,
    stack: contextlib.ExitStack,
) -> tuple[Any, str]:
    """An index of ``docs_dir`` alone: a temporary folder, or (``--backend postgres``) the
    database at ``CITEQA_DATABASE_URL`` with its corpus replaced by these documents."""
    from service import wiring

    if getattr(args, "backend", "embedded") == "postgres":
        if settings.database_url is None:
            raise SystemExit("--backend postgres needs CITEQA_DATABASE_URL")
        pg = wiring.open_database_index(settings, embedder)
        stack.callback(pg.close)
        pg.ingest_paths([docs_dir], settings.max_file_bytes, replace_all=True)
        return pg, f"in-process, PostgreSQL index of {docs_dir}"
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citeqa-eval-")))
    wiring.ingest(settings, [docs_dir], index_dir=tmp / "index", embedder=embedder)
    index = wiring.open_index(settings, embedder=embedder, index_dir=tmp / "index")
    return index, f"in-process, fresh index of {docs_dir}"
