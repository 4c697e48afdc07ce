"""Retrieval quality with the real model on seeds/: the answer-bearing chunk must rank first.

Questions are in tests/data/retrieval_questions.jsonl, written from the seeds in other words than
the articles use; each names its document and a short verbatim quote that answers it. A chunk is
relevant when its span contains the quote (``also`` lists other acceptable document/quote pairs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

QUESTIONS_FILE = Path(__file__).parent / "data" / "retrieval_questions.jsonl"


@dataclass(frozen=True)
class Question:
    question: str
    answers: tuple[tuple[str, str], ...]  # (doc_id, verbatim quote)


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        answers = [(rec["doc_id"], rec["quote"])]
        answers += [(a["doc_id"], a["quote"]) for a in rec.get("also", [])]
        out.append(Question(rec["question"], tuple(answers)))
    return out


def relevant_chunk_ids(index: Any, q: Question) -> set[str]:
    """Ids of chunks whose span fully contains one of the question's quotes."""
    found: set[str] = set()
    for doc_id, quote in q.answers:
        text = index.get_document(doc_id).text
        pos = text.find(quote)
        assert pos >= 0, f"quote not in {doc_id}: {quote!r}"
        for chunk in index.chunks_for(doc_id):
            if chunk.start <= pos and pos + len(quote) <= chunk.end:
                found.add(chunk.id)
    return found


def evaluate(index: Any, questions: list[Question], mode: str, k: int = 10) -> dict[str, Any]:
    """top-1, top-3 accuracy and MRR@k of ``mode`` over ``questions``."""
    ranks: list[int | None] = []
    for q in questions:
        relevant = relevant_chunk_ids(index, q)
        hits = index.search(q.question, top_k=k, mode=mode)
        rank = next((h.rank for h in hits if h.chunk.id in relevant), None)
        ranks.append(rank)
    n = len(questions)
    return {
        "mode": mode,
        "n": n,
        "top1": sum(1 for r in ranks if r == 1) / n,
        "top3": sum(1 for r in ranks if r is not None and r <= 3) / n,
        "mrr": sum(1 / r for r in ranks if r is not None) / n,
        "ranks": ranks,
    }


def test_question_file_is_well_formed(seeds_dir: Path) -> None:
    questions = load_questions()
    assert len(questions) >= 25
    assert len({q.question for q in questions}) == len(questions)
    for q in questions:
        for doc_id, quote in q.answers:
            text = (seeds_dir / f"{doc_id}.txt").read_text(encoding="utf-8")
            assert quote in text, (doc_id, quote)
            # A question must not simply copy the quote.
            assert quote.lower() not in q.question.lower()


@pytest.mark.slow
def test_every_answer_is_in_a_chunk(seed_index: Any) -> None:
    for q in load_questions():
        assert relevant_chunk_ids(seed_index, q), q.question


@pytest.mark.slow
def test_default_retrieval_answer_in_top3_and_mostly_first(seed_index: Any) -> None:
    """Issue 2: the answer chunk is first for >= 90% of the questions and in the top 3 for all.

    Hybrid = RRF of dense + BM25, then index.retrieval.rerank.FeatureReranker over the top 10
    (measured top-1 0.93, MRR 0.96; RRF alone was 0.83).
    """
    result = evaluate(seed_index, load_questions(), mode="hybrid")
    assert result["top3"] == 1.0, result
    assert result["top1"] >= 0.9, result


@pytest.mark.slow
def test_fusion_beats_dense_only(seed_index: Any) -> None:
    """Hybrid is the default only because it measures better than dense alone."""
    questions = load_questions()
    dense = evaluate(seed_index, questions, mode="dense")
    hybrid = evaluate(seed_index, questions, mode="hybrid")
    assert hybrid["mrr"] > dense["mrr"], (dense, hybrid)
    assert hybrid["top1"] > dense["top1"], (dense, hybrid)
    assert dense["top3"] >= 0.85, dense
