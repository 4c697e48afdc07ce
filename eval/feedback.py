"""Turns the Slack bot's feedback JSONL into candidate gold items for a human to review.

Each feedback line: ``{"question", "answer", "citations": [{id, doc_id, chunk_id, title, quote,
start, end}], "verdict": "helpful" | "not_helpful", "timestamp", "user_hash", "model"?,
"abstained"?}``. Lines about the same question (compared after normalising case, punctuation and
spacing) become one candidate; the majority verdict wins and a tie counts as "not_helpful", since
a disputed answer is exactly what a human should look at.

- helpful answer -> ``expected_behavior: "answer"``, evidence = the cited quotes, ``answers``
  left empty for the reviewer to fill with aliases (the bot's answer is kept for reference);
- helpful abstention -> ``expected_behavior: "abstain"``;
- not helpful -> ``expected_behavior: "answer"``, ``needs_human_answer: true``.

Every candidate carries ``review: "pending"`` and the tag ``feedback``. Questions already in the
gold set are skipped. Malformed lines are skipped and counted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.gold import GoldItem
from eval.metrics import words
from index.storage.atomic import atomic_open

logger = logging.getLogger(__name__)

VERDICTS = ("helpful", "not_helpful")


@dataclass
class FeedbackReport:
    """Counts from one conversion."""

    lines: int = 0
    malformed: int = 0
    duplicates: int = 0
    already_in_gold: int = 0
    candidates: list[dict[str, Any]] = field(default_factory=list)


def normalize_question(question: str) -> str:
    return " ".join(words(question))


def _valid_citation(c: object) -> bool:
    return (
        isinstance(c, dict)
        and isinstance(c.get("doc_id"), str)
        and isinstance(c.get("quote"), str)
        and bool(c["doc_id"])
        and bool(c["quote"].strip())
    )


def _parse_line(line: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    question, verdict = raw.get("question"), raw.get("verdict")
    if not isinstance(question, str) or not normalize_question(question):
        return None
    if verdict not in VERDICTS:
        return None
    citations = raw.get("citations", [])
    if not isinstance(citations, list) or not all(_valid_citation(c) for c in citations):
        return None
    if not isinstance(raw.get("answer", ""), str):
        return None
    return raw


def _candidate(key: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    helpful = sum(1 for e in entries if e["verdict"] == "helpful")
    not_helpful = len(entries) - helpful
    verdict = "helpful" if helpful > not_helpful else "not_helpful"
    # The latest line with the winning verdict speaks for the group.
    chosen = [e for e in entries if e["verdict"] == verdict][-1]
    abstained = bool(chosen.get("abstained", False))
    item: dict[str, Any] = {
        "id": "fb-" + hashlib.sha256(key.encode()).hexdigest()[:10],
        "question": chosen["question"].strip(),
        "expected_behavior": "answer",
        "answers": [],
        "evidence": [],
        "tags": ["feedback", verdict],
        "review": "pending",
    }
    if verdict == "helpful" and abstained:
        item["expected_behavior"] = "abstain"
        item["tags"].append("unanswerable")
    elif verdict == "helpful":
        seen: set[tuple[str, str]] = set()
        for c in chosen.get("citations", []):
            ev = (c["doc_id"], c["quote"])
            if ev not in seen:
                seen.add(ev)
                item["evidence"].append({"doc_id": ev[0], "quote": ev[1]})
        item["notes"] = "fill 'answers' with alias groups from the bot answer below"
    else:
        item["needs_human_answer"] = True
        item["notes"] = "users found this unhelpful: write the right answer, or make it 'abstain'"
    item["feedback"] = {
        "votes": {"helpful": helpful, "not_helpful": not_helpful},
        "bot_answer": chosen.get("answer", ""),
        "bot_abstained": abstained,
        "model": chosen.get("model"),
        "timestamp": chosen.get("timestamp"),
    }
    return item


def candidates_from_lines(lines: Iterable[str], gold: Sequence[GoldItem] = ()) -> FeedbackReport:
    """Groups feedback by normalised question and builds one candidate per new question."""
    report = FeedbackReport()
    known = {normalize_question(g.question) for g in gold}
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if not line.strip():
            continue
        report.lines += 1
        entry = _parse_line(line)
        if entry is None:
            report.malformed += 1
            continue
        key = normalize_question(entry["question"])
        if key in known:
            report.already_in_gold += 1
            continue
        if key in groups:
            report.duplicates += 1
        groups.setdefault(key, []).append(entry)
    report.candidates = [_candidate(k, v) for k, v in groups.items()]
    if report.malformed:
        logger.warning("skipped %d malformed feedback line(s)", report.malformed)
    return report


def convert_feedback(src: Path, out: Path, gold: Sequence[GoldItem] = ()) -> FeedbackReport:
    """Reads ``src`` (JSONL), writes candidates to ``out`` (JSONL, atomically)."""
    with src.open(encoding="utf-8", errors="replace") as fh:
        report = candidates_from_lines(fh, gold)
    with atomic_open(out) as fh:
        for item in report.candidates:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    # Private like the feedback file it comes from (0600): it holds users' questions.
    return report
