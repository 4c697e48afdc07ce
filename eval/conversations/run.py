"""Asking the multi-turn gold of a target and scoring every turn like a single question.

Each conversation is replayed with the system's own answers as its history, as a user would
see them. Every follow-up is asked three ways, each scored against the same gold item:

- ``followup``: in the conversation (``history`` = the earlier turns as answered);
- ``standalone``: its standalone form, written out in full, with no history;
- ``followup_alone``: the follow-up's words with no history (what citeqa did before).

First turns are scored as ``first``. The floor of issue 14 compares ``followup`` with
``standalone`` (within 10 points of answer accuracy).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eval.aggregate import Metric, aggregate, ratio_metric
from eval.conversations.data import CORPORA, SPLITS, Conversation, Corpus
from eval.gold import GoldItem
from eval.harness import DocumentCache, Mode, TargetError, warm_up
from eval.metrics import ItemScore, score_item
from index.errors import CiteqaError
from service.answering.conversation import Turn
from service.client import answer_from_dict

GROUPS = ("first", "followup", "standalone", "followup_alone")
# The per-group metrics reported (and the ones the gate can hold).
REPORTED = (
    "answer.accuracy",
    "citation.validity",
    "citation.evidence_recall",
    "retrieval.recall@5",
)
FLOOR_POINTS = 0.10  # follow-ups within 10 points of their standalone forms


class HistoryAsker(Protocol):
    """A target (``InProcessTarget``, ``HttpTarget``) that can be asked with a history."""

    description: str

    def ask(
        self, question: str, top_k: int | None, model: str | None, history: Sequence[Turn] = ()
    ) -> dict[str, Any]: ...

    def ranked_texts(self, question: str, mode: Mode) -> list[str] | None: ...

    def document_text(self, doc_id: str) -> str | None: ...


@dataclass(frozen=True)
class TurnRun:
    """One asking of one turn, and its score."""

    conversation: str
    corpus: Corpus
    split: str
    group: str
    item: GoldItem
    question: str
    output: dict[str, Any]
    score: ItemScore

    @property
    def retrieval_query(self) -> str | None:
        value = self.output.get("retrieval_query")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ConversationRun:
    runs: list[TurnRun]
    metrics: dict[str, Metric]
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def gap(self) -> float | None:
        """Standalone minus follow-up answer accuracy (points as a fraction)."""
        f, s = (
            self.metrics.get("followup.answer.accuracy"),
            self.metrics.get("standalone.answer.accuracy"),
        )
        if f is None or s is None or f.value is None or s.value is None:
            return None
        return s.value - f.value


def _ask(
    target: HistoryAsker,
    question: str,
    history: Sequence[Turn],
    top_k: int | None,
    model: str | None,
) -> tuple[dict[str, Any], str | None, dict[str, float]]:
    error: str | None = None
    t0 = time.perf_counter()
    try:
        output = target.ask(question, top_k, model, history=history)
    except (CiteqaError, TargetError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        output = {"answer": "", "abstained": False, "citations": []}
    timings = {
        k: float(v)
        for k, v in (output.get("timings_ms") or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    timings["wall"] = round((time.perf_counter() - t0) * 1000.0, 3)
    return output, error, timings


def run_conversations(
    conversations: Sequence[Conversation],
    targets: Mapping[Corpus, HistoryAsker],
    *,
    retrieval: Mode = "hybrid",
    top_k: int | None = None,
    model: str | None = None,
    on_turn: Callable[[str], None] | None = None,
    config: Mapping[str, Any] | None = None,
) -> ConversationRun:
    """Replays every conversation on the target of its corpus and scores each asking."""
    for corpus in {c.corpus for c in conversations}:
        warm_up(targets[corpus], top_k, model)
    started = time.perf_counter()
    replay = _Replay(targets, retrieval, top_k, model, on_turn)
    for conv in conversations:
        history: list[Turn] = []
        for n, turn in enumerate(conv.turns):
            item = turn.item
            if n == 0:
                output = replay.ask(conv, "first", item, ())
            else:
                output = replay.ask(conv, "followup", item, tuple(history))
                replay.ask(conv, "standalone", turn.standalone_item(), ())
                replay.ask(conv, "followup_alone", item, ())
            answer = answer_from_dict(output)
            history.append(Turn(item.question, answer.answer, answer.citations))
    runs = replay.runs
    return ConversationRun(
        runs=runs,
        metrics=conversation_metrics(runs),
        config={
            **dict(config or {}),
            "retrieval": retrieval,
            "top_k": top_k,
            "model": model or next((str(r.output.get("model")) for r in runs), ""),
            "n_conversations": len(conversations),
            "n_items": len(conversations),
        },
        seconds=time.perf_counter() - started,
    )


class _Replay:
    """Asks and scores turns, one document cache per corpus."""

    def __init__(
        self,
        targets: Mapping[Corpus, HistoryAsker],
        retrieval: Mode,
        top_k: int | None,
        model: str | None,
        on_turn: Callable[[str], None] | None,
    ) -> None:
        self.targets = targets
        self.retrieval: Mode = retrieval
        self.top_k = top_k
        self.model = model
        self.on_turn = on_turn
        self.caches = {corpus: DocumentCache(t) for corpus, t in targets.items()}
        self.runs: list[TurnRun] = []

    def ask(
        self, conv: Conversation, group: str, item: GoldItem, history: Sequence[Turn]
    ) -> dict[str, Any]:
        target = self.targets[conv.corpus]
        output, error, timings = _ask(target, item.question, history, self.top_k, self.model)
        query = output.get("retrieval_query") or item.question
        ranked = None
        if item.evidence and not item.expects_abstain:
            ranked = target.ranked_texts(str(query), self.retrieval)
        score = score_item(
            item,
            output,
            self.caches[conv.corpus].for_citations(output),
            ranked_texts=ranked,
            error=error,
            timings_ms=timings,
        )
        run = TurnRun(conv.id, conv.corpus, conv.split, group, item, item.question, output, score)
        self.runs.append(run)
        if self.on_turn is not None:
            self.on_turn(f"{item.id} {group}")
        return output


def conversation_metrics(runs: Sequence[TurnRun]) -> dict[str, Metric]:
    """``<group>.<metric>`` over everything, ``<corpus>.<group>.<metric>`` per corpus and
    ``<split>.<group>.<metric>`` per split, the share of follow-ups that were rewritten, and
    failed requests."""
    out: dict[str, Metric] = {}
    for scope in (None, *CORPORA, *SPLITS):
        chosen = [r for r in runs if scope is None or scope in (r.corpus, r.split)]
        prefix = "" if scope is None else f"{scope}."
        for group in GROUPS:
            metrics = aggregate([r.score for r in chosen if r.group == group])
            for name in REPORTED:
                out[f"{prefix}{group}.{name}"] = metrics[name]
        follow = [r for r in chosen if r.group == "followup"]
        out[f"{prefix}followup.rewritten"] = ratio_metric(
            f"{prefix}followup.rewritten",
            [(float(r.retrieval_query is not None), 1.0) for r in follow],
        )
    out["errors"] = ratio_metric("errors", [(float(r.score.error is not None), 1.0) for r in runs])
    return out
