"""Slack feedback -> candidate gold items: verdicts, dedupe, malformed lines, loader-compatible."""

from __future__ import annotations

import json
from pathlib import Path

from eval.feedback import candidates_from_lines, convert_feedback
from eval.gold import GoldItem, parse_lines

CITATION = {
    "id": 1,
    "doc_id": "004_114b54cabd2150fb",
    "chunk_id": "c1",
    "title": "t",
    "quote": "over 10,000 North Korean troops have been deployed to Russia",
    "start": 10,
    "end": 70,
}


def line(question: str, verdict: str, **extra: object) -> str:
    base: dict[str, object] = {
        "question": question,
        "answer": "Over 10,000 [1].",
        "citations": [CITATION],
        "verdict": verdict,
        "timestamp": "2026-11-22T03:00:00Z",
        "user_hash": "u1",
    }
    base.update(extra)
    return json.dumps(base)


def test_helpful_answer_becomes_pending_item_with_evidence_from_citations():
    rep = candidates_from_lines([line("How many troops went?", "helpful")])
    (item,) = rep.candidates
    assert item["review"] == "pending"
    assert item["expected_behavior"] == "answer"
    assert "feedback" in item["tags"]
    assert item["evidence"] == [{"doc_id": CITATION["doc_id"], "quote": CITATION["quote"]}]
    assert item["feedback"]["bot_answer"] == "Over 10,000 [1]."


def test_not_helpful_is_flagged_for_a_human_answer():
    (item,) = candidates_from_lines([line("Who leads the troops?", "not_helpful")]).candidates
    assert item["needs_human_answer"] is True
    assert item["evidence"] == []
    assert "not_helpful" in item["tags"]


def test_helpful_abstention_becomes_an_abstain_item():
    raw = line("How many tanks?", "helpful", abstained=True, citations=[])
    (item,) = candidates_from_lines([raw]).candidates
    assert item["expected_behavior"] == "abstain"


def test_dedupe_by_normalised_question_majority_and_ties():
    rep = candidates_from_lines(
        [
            line("How many troops went?", "helpful"),
            line("  how MANY troops went ", "helpful"),
            line("How many troops went??", "not_helpful"),
            line("Who signed?", "helpful"),
            line("who signed", "not_helpful"),
        ]
    )
    assert rep.duplicates == 3
    by_q = {c["question"]: c for c in rep.candidates}
    assert len(rep.candidates) == 2
    troops = next(c for q, c in by_q.items() if "troops" in q.lower())
    assert troops["feedback"]["votes"] == {"helpful": 2, "not_helpful": 1}
    assert "helpful" in troops["tags"]
    signed = next(c for q, c in by_q.items() if "signed" in q.lower())
    assert signed.get("needs_human_answer") is True  # a tie goes to a human


def test_malformed_lines_are_counted_and_skipped():
    rep = candidates_from_lines(
        [
            "{not json",
            json.dumps(["a list"]),
            json.dumps({"question": "Q?"}),  # no verdict
            line("Q?", "meh"),
            line("", "helpful"),
            line("Q?", "helpful", citations=[{"doc_id": "d"}]),
            "",
            line("Good one?", "helpful"),
        ]
    )
    assert rep.lines == 7
    assert rep.malformed == 6
    assert len(rep.candidates) == 1


def test_questions_already_in_gold_are_skipped():
    gold = [GoldItem(id="g1", question="How many troops went?", expected_behavior="abstain")]
    rep = candidates_from_lines([line("how many troops went", "helpful")], gold)
    assert rep.already_in_gold == 1
    assert rep.candidates == []


def test_convert_writes_jsonl_the_gold_loader_accepts(tmp_path: Path):
    src = tmp_path / "feedback.jsonl"
    src.write_text(
        "\n".join([line("How many troops went?", "helpful"), line("Who?", "not_helpful"), "x"]),
        encoding="utf-8",
    )
    out = tmp_path / "candidates.jsonl"
    rep = convert_feedback(src, out, [])
    assert rep.malformed == 1
    items = parse_lines(out.read_text(encoding="utf-8").splitlines(), name=str(out))
    assert [i.review for i in items] == ["pending", "pending"]
    assert len({i.id for i in items}) == 2
    # Same input, same ids: reruns do not churn the candidate file.
    first = out.read_text(encoding="utf-8")
    convert_feedback(src, out, [])
    assert out.read_text(encoding="utf-8") == first


def test_cli_from_feedback(tmp_path: Path):
    from service.cli import main

    src = tmp_path / "fb.jsonl"
    src.write_text(line("Where is Kursk?", "helpful") + "\n", encoding="utf-8")
    out = tmp_path / "cand.jsonl"
    assert main(["eval", "--from-feedback", str(src), "--feedback-out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["question"] == "Where is Kursk?"


def test_lines_written_by_the_slack_feedback_log_convert(tmp_path: Path):
    from service.answering.types import Answer, Citation
    from service.feedback import FeedbackLog

    log = FeedbackLog(tmp_path / "feedback.jsonl", salt=b"s" * 16)
    cite = Citation(1, CITATION["doc_id"], "c1", "t", str(CITATION["quote"]), 10, 70)  # type: ignore[arg-type]
    answer = Answer("Over 10,000 [1].", False, citations=(cite,), model="extractive")
    log.append(
        log.make_record(verdict="helpful", question="How many?", answer=answer, user_id="U1")
    )
    log.append(log.make_record(verdict="not_helpful", question="Why?", answer=None, user_id="U2"))
    rep = convert_feedback(log.path, tmp_path / "out.jsonl")
    assert rep.malformed == 0
    helpful = next(c for c in rep.candidates if c["question"] == "How many?")
    assert helpful["evidence"][0]["quote"] == CITATION["quote"]
    assert helpful["feedback"]["model"] == "extractive"
