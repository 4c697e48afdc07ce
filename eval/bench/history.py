"""What conversations cost ``/ask``: the same follow-ups asked with their history (rewritten in
the server) and asked as the query they are rewritten to, without history.

Both variants then search and answer the same text, so the difference of their medians is what
the history adds: parsing it, rewriting the follow-up (``timings_ms["rewrite"]``, reported too)
and the larger request. The runs alternate between the variants, so a busy machine slows both.
The follow-ups and their first turns come from the seeds conversations of the multi-turn gold;
each first turn is answered once by the server, and that answer is the history.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from eval.conversations.data import DEFAULT_CONVERSATIONS_PATH, load_conversations
from service.answering.conversation import Turn
from service.client import CiteqaClient, answer_from_dict, turn_json


def history_cases(client: CiteqaClient) -> list[tuple[str, list[dict[str, Any]], str]]:
    """(follow-up, history JSON, the query the server rewrites it to) per seeds conversation."""
    cases = []
    for conv in load_conversations(DEFAULT_CONVERSATIONS_PATH):
        if conv.corpus != "seeds":
            continue
        first, second = conv.turns[0].item.question, conv.turns[1].item.question
        answer = answer_from_dict(client.call("POST", "/ask", {"question": first}))
        history = [turn_json(Turn(first, answer.answer, answer.citations))]
        probe = client.call("POST", "/ask", {"question": second, "history": history})
        cases.append((second, history, str(probe.get("retrieval_query") or second)))
    return cases


def bench_history(client: CiteqaClient, runs: int) -> dict[str, Any]:
    """Medians over ``runs`` passes of every case, each variant alternately."""
    cases = history_cases(client)
    with_ms: list[float] = []
    without_ms: list[float] = []
    paired: list[float] = []
    rewrite_ms: list[float] = []
    for _ in range(runs):
        for question, history, query in cases:
            t0 = time.perf_counter()
            data = client.call("POST", "/ask", {"question": question, "history": history})
            t1 = time.perf_counter()
            client.call("POST", "/ask", {"question": query})
            t2 = time.perf_counter()
            with_ms.append((t1 - t0) * 1000)
            without_ms.append((t2 - t1) * 1000)
            paired.append(with_ms[-1] - without_ms[-1])
            rewrite_ms.append(float((data.get("timings_ms") or {}).get("rewrite", 0.0)))
    if not cases:
        return {"error": "no seeds conversations"}
    with_p50 = statistics.median(with_ms)
    without_p50 = statistics.median(without_ms)
    return {
        "cases": len(cases),
        "runs": runs,
        "rewritten": sum(1 for q, _, rq in cases if rq != q),
        "ask_with_history_p50_ms": round(with_p50, 3),
        "ask_rewritten_query_p50_ms": round(without_p50, 3),
        "history_adds_p50_ms": round(with_p50 - without_p50, 3),
        "paired_difference_p50_ms": round(statistics.median(paired), 3),
        "rewrite_step_p50_ms": round(statistics.median(rewrite_ms), 3),
        "rewrite_step_max_ms": round(max(rewrite_ms), 3),
    }
