"""The LLM path (LLM + verification + attribution) side by side with the default answerer and a
naive baseline, on a SQuAD 2.0-format sample.

The naive baseline is the same model's reply to the same prompt over the same evidence, before
verification: it "has the answer" when a gold answer is contained in the reply text, and it
refuses when the reply says the sources do not answer (``found: false`` / ``NOT_IN_SOURCES``).
It costs no second model call. Each question's outcome is appended to a progress file as it is
scored, so a long run can be followed (``tail -f``) and a cut-short run still counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.aggregate import percentile
from eval.gold import GoldItem
from eval.metrics import ItemScore, groups_matched, score_item
from eval.squad.data import SquadItem, contains_answer
from eval.squad.metrics import SquadScore, score_output
from service.answering.generators.llm_format import ABSTAIN_TOKEN
from service.answering.generators.llm_json import refused
from service.answering.generators.protocol import Generation, GenerationRequest, Generator


class RecordingGenerator:
    """Wraps a generator and keeps its last Generation (the raw reply for the naive column)."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.last: Generation | None = None
        self.last_ms = 0.0

    @property
    def model(self) -> str:
        return self.inner.model

    def generate(self, request: GenerationRequest) -> Generation:
        self.last = None
        t = time.perf_counter()
        gen = self.inner.generate(request)
        self.last_ms = (time.perf_counter() - t) * 1000.0
        self.last = gen
        return gen


def naive_answer(raw: str) -> str:
    """What the model answered: the sentences' texts of a JSON reply (its quotes are copied
    source text, not answers), else the whole reply."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    items = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return raw
    return " ".join(str(i.get("text", "")) for i in items if isinstance(i, dict))


def naive_refused(raw: str) -> bool:
    said = refused(raw)
    if said is not None:
        return said
    low = raw.lower()
    return ABSTAIN_TOKEN in raw or "don't know" in low or "do not know" in low or not raw.strip()


@dataclass
class Row:
    """One question's outcome in the three columns."""

    id: str
    answerable: bool
    llm: dict[str, Any]
    naive: dict[str, Any]
    default: dict[str, Any]


def score_row(
    item: SquadItem,
    llm_out: Mapping[str, Any],
    llm_ms: float,
    gen: Generation | None,
    gen_ms: float,
    default_out: Mapping[str, Any],
    default_ms: float,
    docs: Mapping[str, str],
    error: str | None = None,
) -> Row:
    llm_score = score_output(item, llm_out, docs, error)
    default_score = score_output(item, default_out, docs)
    raw = gen.raw_text if gen is not None and gen.raw_text is not None else ""
    naive_ref = naive_refused(raw) if gen is not None and gen.generator == "llm" else True
    naive_has = (not naive_ref) and contains_answer(naive_answer(raw), item.answers)
    naive_has_raw = (not naive_ref) and contains_answer(raw, item.answers)
    origins: dict[str, int] = {}
    for c in llm_out.get("citations") or ():
        origins[str(c.get("origin", "model"))] = origins.get(str(c.get("origin", "model")), 0) + 1
    tokens = gen.completion_tokens if gen is not None else None
    return Row(
        id=item.id,
        answerable=item.answerable,
        llm={
            **_flags(llm_score),
            "ms": llm_ms,
            "origins": origins,
            "generator": llm_out.get("generator"),
            "fallback": llm_out.get("fallback_reason"),
            "tokens": tokens,
            "gen_ms": gen_ms,
            "answer": str(llm_out.get("answer", ""))[:300],
        },
        naive={
            "has_answer": naive_has,
            "has_answer_in_raw": naive_has_raw,
            "refused": naive_ref,
            "ms": gen_ms,
            "raw": raw[:500],
        },
        default={**_flags(default_score), "ms": default_ms},
    )


def _flags(s: SquadScore) -> dict[str, Any]:
    return {
        "correct": s.correct,
        "contains": s.contains,
        "abstained": s.abstained,
        "error": s.error,
        "misplaced": s.citations_total - s.citations_valid,
        "citations": s.citations_total,
    }


@dataclass
class Summary:
    n: int
    answerable: int
    unanswerable: int
    cells: dict[str, dict[str, str]] = field(default_factory=dict)


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}% ({k}/{n})" if n else "n/a"


def _lat(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    p50, p90 = percentile(values, 50), percentile(values, 90)
    if p90 < 1000:
        return f"{p50:.0f} ms / {p90:.0f} ms"
    return f"{p50 / 1000:.1f} s / {p90 / 1000:.1f} s"


def summarize(rows: Sequence[Row]) -> Summary:
    ans = [r for r in rows if r.answerable]
    una = [r for r in rows if not r.answerable]
    out = Summary(n=len(rows), answerable=len(ans), unanswerable=len(una))
    llm_tokens = sum(r.llm["tokens"] or 0 for r in rows if r.llm["tokens"])
    llm_gen_s = sum(r.llm["gen_ms"] for r in rows if r.llm["tokens"]) / 1000.0
    origins: dict[str, int] = {}
    for r in rows:
        for k, v in r.llm["origins"].items():
            origins[k] = origins.get(k, 0) + v
    fallbacks = sum(1 for r in rows if r.llm["fallback"])
    out.cells = {
        "correct with covering citation (answerable)": {
            "llm": _pct(sum(r.llm["correct"] for r in ans), len(ans)),
            "naive": "n/a (no citations)",
            "default": _pct(sum(r.default["correct"] for r in ans), len(ans)),
        },
        "has the answer at all (answerable)": {
            "llm": _pct(sum(r.llm["contains"] for r in ans), len(ans)),
            "naive": _pct(sum(r.naive["has_answer"] for r in ans), len(ans)),
            "default": _pct(sum(r.default["contains"] for r in ans), len(ans)),
        },
        "gold answer anywhere in the raw reply, quotes included (answerable)": {
            "llm": "n/a",
            "naive": _pct(sum(r.naive.get("has_answer_in_raw", False) for r in ans), len(ans)),
            "default": "n/a",
        },
        "false refusals (answerable)": {
            "llm": _pct(sum(r.llm["abstained"] for r in ans), len(ans)),
            "naive": _pct(sum(r.naive["refused"] for r in ans), len(ans)),
            "default": _pct(sum(r.default["abstained"] for r in ans), len(ans)),
        },
        "abstentions on unanswerables": {
            "llm": _pct(sum(r.llm["abstained"] for r in una), len(una)),
            "naive": _pct(sum(r.naive["refused"] for r in una), len(una)),
            "default": _pct(sum(r.default["abstained"] for r in una), len(una)),
        },
        "citations by origin (model / attributed)": {
            "llm": f"{origins.get('model', 0)} / {origins.get('attributed', 0)}",
            "naive": "n/a",
            "default": f"{sum(r.default['citations'] for r in rows)} / 0",
        },
        "citations not at their offsets": {
            "llm": str(sum(r.llm["misplaced"] for r in rows)),
            "naive": "n/a",
            "default": str(sum(r.default["misplaced"] for r in rows)),
        },
        "fallbacks to the default answerer": {
            "llm": str(fallbacks),
            "naive": "n/a",
            "default": "n/a",
        },
        "latency p50 / p90": {
            "llm": _lat([r.llm["ms"] for r in rows]),
            "naive": _lat([r.naive["ms"] for r in rows]),
            "default": _lat([r.default["ms"] for r in rows]),
        },
        "tokens/s (generation, incl. prompt)": {
            "llm": f"{llm_tokens / llm_gen_s:.1f}" if llm_gen_s else "n/a",
            "naive": "same call",
            "default": "n/a",
        },
    }
    return out


def markdown(summary: Summary, title: str) -> str:
    lines = [
        f"### {title}",
        "",
        f"{summary.n} questions ({summary.answerable} answerable, "
        f"{summary.unanswerable} unanswerable)",
        "",
        "| | LLM path (verified) | naive LLM (raw reply) | default answerer |",
        "|---|---|---|---|",
    ]
    for name, cells in summary.cells.items():
        lines.append(f"| {name} | {cells['llm']} | {cells['naive']} | {cells['default']} |")
    return "\n".join(lines) + "\n"


def append_progress(path: Path, row: Row) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row.__dict__, ensure_ascii=False) + "\n")
        f.flush()


def load_progress(path: Path) -> list[Row]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(Row(**json.loads(line)))
    return rows


def score_gold_row(
    item: GoldItem,
    llm_out: Mapping[str, Any],
    llm_ms: float,
    gen: Generation | None,
    gen_ms: float,
    default_out: Mapping[str, Any],
    default_ms: float,
    docs: Mapping[str, str],
    error: str | None = None,
) -> Row:
    """A seeds gold item in the same three columns: "correct with a covering citation" is the
    gold set's correctness (every answer group shown) with a citation into a gold document."""
    raw = gen.raw_text if gen is not None and gen.raw_text is not None else ""
    naive_ref = naive_refused(raw) if gen is not None and gen.generator == "llm" else True
    groups = groups_matched(item.answers, naive_answer(raw)) if item.answers else []
    naive_has = (not naive_ref) and bool(groups) and all(groups)
    raw_groups = groups_matched(item.answers, raw) if item.answers else []
    origins: dict[str, int] = {}
    for c in llm_out.get("citations") or ():
        origins[str(c.get("origin", "model"))] = origins.get(str(c.get("origin", "model")), 0) + 1
    return Row(
        id=item.id,
        answerable=not item.expects_abstain,
        llm={
            **_gold_flags(score_item(item, llm_out, docs, error=error)),
            "ms": llm_ms,
            "origins": origins,
            "generator": llm_out.get("generator"),
            "fallback": llm_out.get("fallback_reason"),
            "tokens": gen.completion_tokens if gen is not None else None,
            "gen_ms": gen_ms,
            "answer": str(llm_out.get("answer", ""))[:300],
        },
        naive={
            "has_answer": naive_has,
            "has_answer_in_raw": (not naive_ref) and bool(raw_groups) and all(raw_groups),
            "refused": naive_ref,
            "ms": gen_ms,
            "raw": raw[:500],
        },
        default={**_gold_flags(score_item(item, default_out, docs)), "ms": default_ms},
    )


def _gold_flags(s: ItemScore) -> dict[str, Any]:
    answered = not s.abstained and s.error is None
    shown_all = answered and bool(s.groups) and all(s.groups)
    return {
        "correct": shown_all and s.evidence_cited is not False and not s.forbidden_hit,
        "contains": shown_all,
        "abstained": s.abstained,
        "error": s.error,
        "misplaced": s.citations_total - s.citations_valid,
        "citations": s.citations_total,
    }


def with_strict_gate(rows: Sequence[Row]) -> list[Row]:
    """The same rows as ``CITEQA_LLM_GATE=any`` would have scored them: the LLM answer stands
    only where the default answerer (whose answer each row records) did not abstain. Derived,
    not run: the gate is a function of that recorded answer, so no model is asked again."""
    out = []
    for r in rows:
        vetoed = bool(r.default["abstained"]) and not r.llm["abstained"]
        llm = dict(r.llm)
        if vetoed:
            llm.update(correct=False, contains=False, abstained=True, citations=0, origins={})
        out.append(Row(r.id, r.answerable, llm, r.naive, r.default))
    return out
