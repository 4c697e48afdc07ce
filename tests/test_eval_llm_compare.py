"""The LLM-vs-default-vs-naive table: how a row is scored and how the progress file resumes."""

from __future__ import annotations

import json
from pathlib import Path

from eval.llm.compare import (
    append_progress,
    load_progress,
    markdown,
    naive_answer,
    naive_refused,
    score_row,
    summarize,
)
from eval.squad.data import SquadItem
from service.answering.evidence import Draft
from service.answering.generators.protocol import Generation

DOC = "The Normans came from Normandy. Rollo was their first ruler."
ITEM = SquadItem("q1", "Who was the first ruler?", "d", True, ("Rollo",), ((32, 37),))
UNANSWERABLE = SquadItem("q2", "Who was the last ruler?", "d", False)
RAW = json.dumps(
    {"found": True, "sentences": [{"source": 1, "quote": "Rollo was", "text": "Rollo ruled."}]}
)


def _gen(raw: str) -> Generation:
    draft = Draft(abstained=False, sentences=(), quotes=())
    return Generation(draft=draft, model="m", generator="llm", raw_text=raw, completion_tokens=10)


def _cited(start: int, end: int, origin: str = "model") -> dict[str, object]:
    quote = DOC[start:end]
    c = {"doc_id": "d", "start": start, "end": end, "quote": quote, "origin": origin}
    return {"answer": "Rollo [1].", "abstained": False, "citations": [c]}


def test_the_naive_baseline_reads_the_answer_text_not_the_quotes() -> None:
    assert naive_answer(RAW) == "Rollo ruled."
    assert naive_answer("plain prose") == "plain prose"
    assert naive_refused('{"found": false, "sentences": []}')
    assert naive_refused("NOT_IN_SOURCES")
    assert not naive_refused(RAW)


def test_rows_score_each_column_and_resume_from_the_progress_file(tmp_path: Path) -> None:
    docs = {"d": DOC}
    row = score_row(ITEM, _cited(32, 60), 900.0, _gen(RAW), 800.0, _cited(0, 31), 20.0, docs)
    assert row.llm["correct"] is True
    assert row.default["correct"] is False  # its citation does not cover the gold span
    assert row.naive["has_answer"] is True
    refused = {"answer": "", "abstained": True, "citations": []}
    none = _gen('{"found": false, "sentences": []}')
    row2 = score_row(UNANSWERABLE, refused, 700.0, none, 600.0, refused, 10.0, docs)
    path = tmp_path / "progress.jsonl"
    append_progress(path, row)
    append_progress(path, row2)
    rows = load_progress(path)
    assert [r.id for r in rows] == ["q1", "q2"]
    table = markdown(summarize(rows), "t")
    assert "| correct with covering citation (answerable) | 100.0% (1/1) |" in table
    assert "| abstentions on unanswerables | 100.0% (1/1) | 100.0% (1/1) | 100.0% (1/1) |" in table
    assert "| citations by origin (model / attributed) | 1 / 0 |" in table


def test_a_seeds_gold_item_is_scored_by_the_gold_sets_rules() -> None:
    from eval.gold import DEFAULT_GOLD_PATH, load_gold
    from eval.llm.compare import score_gold_row

    item = next(i for i in load_gold(DEFAULT_GOLD_PATH) if i.id == "g005")  # who signed
    doc = "The June 2024 mutual defense agreement signed between Kim Jong Un and Vladimir Putin."
    docs = {item.evidence[0].doc_id: doc}
    cite = {"doc_id": item.evidence[0].doc_id, "start": 0, "end": len(doc), "quote": doc}
    shown = {"answer": "Kim Jong Un and Vladimir Putin [1].", "abstained": False}
    good = {**shown, "citations": [cite]}
    raw = json.dumps({"found": True, "sentences": [{"source": 1, "quote": "x", "text": "Putin."}]})
    row = score_gold_row(item, good, 1.0, _gen(raw), 1.0, {"abstained": True}, 1.0, docs)
    assert row.llm["correct"] is True
    assert row.naive["has_answer"] is False  # Kim is missing from the model's answer text
    assert row.default["abstained"] is True


def test_the_strict_gate_is_derived_from_the_default_answerers_recorded_abstentions() -> None:
    from eval.llm.compare import with_strict_gate

    docs = {"d": DOC}
    refused = {"answer": "", "abstained": True, "citations": []}
    row = score_row(ITEM, _cited(32, 60), 9.0, _gen(RAW), 8.0, refused, 1.0, docs)
    (gated,) = with_strict_gate([row])
    assert row.llm["correct"] is True
    assert gated.llm["correct"] is False
    assert gated.llm["abstained"] is True
    assert gated.naive == row.naive
