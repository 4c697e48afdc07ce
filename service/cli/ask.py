"""``citeqa ask``: answer one question from the index, with a numbered source list."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.answering.types import Answer


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``ask``."""
    p = sub.add_parser(
        "ask",
        help="answer a question with cited quotes",
        description="Answer a question from the indexed documents. Every sentence is backed by a "
        "verbatim quote; when the documents do not answer, says so.",
    )
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help="print the full answer as JSON")
    p.add_argument("--model", default=None, help="litellm model string (default: settings)")
    p.add_argument("-k", "--top-k", type=int, default=None, help="passages to retrieve")
    p.add_argument("--index-dir", type=Path, default=None, help="index folder (default: settings)")
    p.set_defaults(func=_ask)


def _ask(args: argparse.Namespace) -> int:
    from service import wiring
    from service.answering.pipeline import validate_question
    from service.settings import Settings

    validate_question(args.question)  # fail fast, before loading the model
    settings = Settings()
    index = wiring.open_index(settings, index_dir=args.index_dir, on_build=_announce_build)
    pipeline = wiring.build_answerer(settings, index)
    answer = pipeline.answer(args.question, top_k=args.top_k, model=args.model)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_text(answer))
    return 0


def _announce_build(index_dir: Path, seeds: Path) -> None:
    print(f"citeqa: no index at {index_dir}; building it from {seeds} ...", file=sys.stderr)


def render_text(answer: Answer) -> str:
    """The answer, a note when degraded or abstained, and the numbered sources with quotes."""
    lines = [answer.answer]
    if answer.abstained and answer.abstain_reason:
        lines.append(f"(reason: {answer.abstain_reason})")
    if answer.degraded:
        lines.append(f"(degraded: answered by the extractive fallback; {answer.degraded_reason})")
    for conflict in answer.conflicts:
        lines.append("")
        lines.append(f"Sources disagree on the {conflict.topic}:")
        for v in conflict.values:
            who = f" per {v.attribution}" if v.attribution else ""
            lines.append(f"  - {v.value}{who} [{v.citation}]")
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for c in answer.citations:
            quote = " ".join(c.quote.split())
            where = f"{c.pages_label}, " if c.pages_label else ""
            lines.append(f"  [{c.id}] {c.title} ({c.doc_id}, {where}chars {c.start}-{c.end})")
            lines.append(f'      "{quote}"')
    return "\n".join(lines)
