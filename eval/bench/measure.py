"""What ``citeqa bench`` measures with: the plan of repetitions, the inputs, and the timers."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
QUESTIONS_FILE = REPO_ROOT / "tests" / "data" / "retrieval_questions.jsonl"
GOLD_FILE = REPO_ROOT / "eval" / "gold.jsonl"
FALLBACK_QUESTIONS = (
    "Who signed the mutual defense pact?",
    "How many North Korean troops were sent to Russia?",
    "Where are the North Korean soldiers deployed?",
)
ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class Plan:
    """How many repetitions each step makes (``--quick`` shrinks them all)."""

    encode_reps: int
    http_reps: int
    ask_reps: int
    concurrent_requests: int
    clients: int
    scale: int
    questions: int = 1000
    chunks: int = 100_000


def load_questions() -> list[dict[str, str]]:
    """Questions with the document and quote that answer them (store engineer's set, or gold)."""
    for path in (QUESTIONS_FILE, GOLD_FILE):
        if path.is_file():
            rows = [
                json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()
            ]
            rows = [r for r in rows if r.get("question") and r.get("doc_id") and r.get("quote")]
            if rows:
                return rows
    return []


def seed_chunks(seeds: Path) -> list[str]:
    from index.embedders.tokenizer import load_default_tokenizer
    from index.ingestion.chunking import chunk_document
    from index.ingestion.reading import load_paths

    docs, _ = load_paths([seeds])
    tokenizer = load_default_tokenizer()
    return [c.text for d in docs for c in chunk_document(d, tokenizer)]


_SPACE = re.compile(r"\s+")


def retrieval_metrics(
    index: Any, questions: Sequence[dict[str, str]], mode: str
) -> dict[str, float]:
    """hit@1, hit@3 and MRR@5 where a hit is a chunk of the right document holding the quote."""
    ranks: list[int | None] = []
    for q in questions:
        quote = _SPACE.sub(" ", q["quote"]).strip()
        found = None
        for hit in index.search(q["question"], top_k=5, mode=mode):
            if hit.chunk.doc_id == q["doc_id"] and quote in _SPACE.sub(" ", hit.chunk.text):
                found = hit.rank
                break
        ranks.append(found)
    n = len(ranks) or 1
    return {
        "hit_at_1": round(sum(r == 1 for r in ranks) / n, 4),
        "hit_at_3": round(sum(r is not None and r <= 3 for r in ranks) / n, 4),
        "mrr_at_5": round(sum(1 / r for r in ranks if r) / n, 4),
    }


def p50_ms(fn: Callable[[str], object], inputs: Sequence[str], reps: int) -> float:
    for text in inputs[:3]:
        fn(text)  # warm-up: first calls allocate
    times = []
    for i in range(reps):
        started = time.perf_counter()
        fn(inputs[i % len(inputs)])
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return max(time.perf_counter() - started, 1e-9)
