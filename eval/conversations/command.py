"""``citeqa eval --dataset conversations``: the multi-turn gold, follow-ups against their
standalone forms.

In-process, each corpus (``seeds/`` and ``eval/squad2-dev/docs``) is indexed into a fresh
temporary index and answered through ``service.wiring.build_answerer``, as ``citeqa serve``
would. ``--gate`` compares with ``eval/baseline_conversations.json`` (the seeds gate's tolerance
rule) and holds the floor: follow-ups within 10 points of their standalone forms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from eval.conversations.data import (
    CORPORA,
    DEFAULT_CONVERSATIONS_PATH,
    SPLITS,
    Corpus,
    load_conversations,
)
from eval.conversations.run import (
    FLOOR_POINTS,
    GROUPS,
    REPORTED,
    ConversationRun,
    HistoryAsker,
    run_conversations,
)

DEFAULT_BASELINE_PATH = Path(__file__).resolve().parents[1] / "baseline_conversations.json"
# Rows of the report: everything, then per corpus, then per split.
SCOPES = ("", *(f"{c}." for c in CORPORA), *(f"{s}." for s in SPLITS))
UPDATE_COMMAND = "citeqa eval --dataset conversations --update-baseline"
GATED_CONVERSATIONS = (
    "first.answer.accuracy",
    "followup.answer.accuracy",
    "standalone.answer.accuracy",
    "seeds.followup.answer.accuracy",
    "squad2.followup.answer.accuracy",
    "followup.citation.validity",
    "followup.citation.evidence_recall",
    "followup.retrieval.recall@5",
)


def _targets(
    settings: Any, retrieval: str, stack: contextlib.ExitStack, err: Console
) -> dict[Corpus, HistoryAsker]:
    from eval.harness import InProcessTarget
    from eval.squad.data import DEFAULT_SQUAD_DIR
    from service import wiring

    folders: dict[Corpus, Path] = {
        "seeds": settings.seeds_dir,
        "squad2": DEFAULT_SQUAD_DIR / "docs",
    }
    with err.status("loading the embedding model"):
        embedder = wiring.load_embedder(settings)
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citeqa-conv-")))
    targets: dict[Corpus, HistoryAsker] = {}
    for corpus in CORPORA:
        where = tmp / corpus
        with err.status(f"indexing {folders[corpus]}"):
            wiring.ingest(settings, [folders[corpus]], index_dir=where, embedder=embedder)
        index = wiring.open_index(settings, embedder=embedder, index_dir=where)
        chosen = settings.model_copy(update={"retrieval": retrieval})
        pipeline = wiring.build_answerer(chosen, index)
        desc = f"in-process, fresh index of {folders[corpus]}"
        targets[corpus] = InProcessTarget(pipeline, index=index, description=desc)
    return targets


def summary_table(run: ConversationRun) -> Table:
    """One row per group and corpus: the reported metrics with their counts."""
    table = Table(title="conversations: follow-ups vs their standalone forms")
    table.add_column("turns")
    for name in (*REPORTED, "rewritten"):
        table.add_column(name, justify="right")
    for scope in SCOPES:
        for group in GROUPS:
            cells = [run.metrics[f"{scope}{group}.{name}"].display() for name in REPORTED]
            rewritten = run.metrics.get(f"{scope}followup.rewritten")
            extra = rewritten.display() if group == "followup" and rewritten else ""
            table.add_row(f"{scope or 'all.'}{group}", *cells, extra)
    return table


def write_outputs(run: ConversationRun, out_dir: Path) -> list[Path]:
    """``report.json`` (metrics and every asking) and ``report.md`` (the summary)."""
    from eval.report import set_readable

    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "config": run.config,
        "seconds": round(run.seconds, 2),
        "gap_points": None if run.gap is None else round(100 * run.gap, 1),
        "metrics": {k: m.to_json() for k, m in run.metrics.items()},
        "turns": [
            {
                "conversation": r.conversation,
                "id": r.item.id,
                "group": r.group,
                "question": r.question,
                "retrieval_query": r.retrieval_query,
                "correct": r.score.correct,
                "answer": r.output.get("answer"),
            }
            for r in run.runs
        ],
    }
    paths = [out_dir / "report.json", out_dir / "report.md"]
    paths[0].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = ["# citeqa eval: conversations", "", "| turns | " + " | ".join(REPORTED) + " |"]
    lines.append("|---" * (len(REPORTED) + 1) + "|")
    for scope in SCOPES:
        for group in GROUPS:
            cells = [run.metrics[f"{scope}{group}.{n}"].display() for n in REPORTED]
            lines.append(f"| {scope or 'all.'}{group} | " + " | ".join(cells) + " |")
    lines += ["", f"Follow-up vs standalone gap: {data['gap_points']} points (floor 10)."]
    paths[1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    for p in paths:
        set_readable(p)
    return paths


def handle(args: argparse.Namespace) -> int:
    from eval.gate import Invariant, load_baseline, report_gate, update_baseline
    from eval.report import progress_bar
    from service.settings import Settings

    out, err = Console(), Console(stderr=True)
    if args.url:
        err.print("citeqa eval: --dataset conversations runs in-process (two corpora)")
        return 2
    path: Path = args.path or DEFAULT_CONVERSATIONS_PATH
    conversations = load_conversations(path)
    if args.limit is not None:
        conversations = conversations[: args.limit]
    baseline_path: Path = args.baseline or DEFAULT_BASELINE_PATH
    baseline = load_baseline(baseline_path) if args.gate else None
    pinned = dict(baseline.metadata) if baseline is not None else {}
    settings = Settings()
    retrieval = args.retrieval or pinned.get("retrieval") or settings.retrieval
    top_k = args.top_k or pinned.get("top_k") or settings.top_k
    model = args.model or pinned.get("model") or None
    total = sum(3 * len(c.turns) - 2 for c in conversations)
    with contextlib.ExitStack() as stack:
        targets = _targets(settings, retrieval, stack, err)
        with progress_bar(err, "eval [conversations]") as progress:
            task = progress.add_task("", total=total)
            run = run_conversations(
                conversations,
                targets,
                retrieval=retrieval,
                top_k=top_k,
                model=model,
                on_turn=lambda what: progress.update(task, advance=1, description=what),
                config={"target": "in-process, fresh indexes of seeds/ and squad2-dev/docs"},
            )
    if not args.gate:
        out.print(summary_table(run))
    gap = run.gap
    out.print(
        f"{len(conversations)} conversations, {total} askings in {run.seconds:.1f} s; "
        f"follow-up vs standalone gap: {'n/a' if gap is None else f'{100 * gap:.1f}'} points"
    )
    if args.out is not None:
        for written in write_outputs(run, args.out):
            out.print(f"wrote {written}")
    if baseline is not None:
        errors = run.metrics["errors"]
        invariants = [
            Invariant(
                "follow-ups within 10 points of standalone",
                gap is not None and gap <= FLOOR_POINTS + 1e-9,
                "n/a" if gap is None else f"{100 * gap:.1f} points",
            ),
            Invariant("failed requests", errors.num == 0, f"{errors.num:g}"),
        ]
        return report_gate(run, baseline, path, out, err, invariants)
    if args.update_baseline:
        extra = {
            "dataset": path.name,
            "target": run.config["target"],
            "seconds": round(run.seconds, 1),
            "update_command": UPDATE_COMMAND,
        }
        return update_baseline(run, path, baseline_path, extra, out, err, GATED_CONVERSATIONS)
    return 0
