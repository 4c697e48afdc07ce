"""``citeqa eval --dataset squad2 [PATH]``: a SQuAD 2.0-format dataset through the pipeline.

In-process (default) it indexes ``PATH/docs`` into a fresh temporary index with the configured
embedder and answers through ``service.wiring.build_answerer``, as ``citeqa serve`` would; with
``--url`` it asks a running service (which must have indexed the same documents; citations are
checked against ``GET /documents/{id}``, else against ``PATH/docs``). ``--sample N --seed S``
takes a fixed sample stratified by article and answerable/unanswerable. ``--gate`` compares with
``eval/baseline_squad2.json`` (same tolerance rule as the seeds gate, plus two invariants: no
misplaced citation, no failed request); ``--update-baseline`` rewrites it.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from rich.console import Console

from eval.squad.data import DEFAULT_SQUAD_DIR, SquadItem, SquadSet, load_squad, stratified_sample
from eval.squad.run import SquadRun, run_squad

DEFAULT_BASELINE_PATH = Path(__file__).resolve().parents[1] / "baseline_squad2.json"
UPDATE_COMMAND = "citeqa eval --dataset squad2 --sample 300 --update-baseline"


def _target(
    args: argparse.Namespace,
    data: SquadSet,
    retrieval: str,
    stack: contextlib.ExitStack,
    err: Console,
) -> Any:
    from eval.harness import HttpTarget, InProcessTarget, fresh_index
    from service import wiring
    from service.settings import Settings

    settings = Settings()
    if args.url:
        http = HttpTarget(args.url, api_key=args.api_key, seeds_dir=data.docs_dir)
        stack.callback(http.close)
        return http
    with err.status("loading the embedding model"):
        embedder = wiring.load_embedder(settings)
    if args.index_dir is not None:
        index = wiring.open_index(
            settings, embedder=embedder, index_dir=args.index_dir, build_from_seeds=False
        )
        where = f"in-process, index {args.index_dir}"
    else:
        with err.status(f"indexing {data.docs_dir}"):
            index, where = fresh_index(args, settings, data.docs_dir, embedder, stack)
    pipeline = wiring.build_answerer(settings.model_copy(update={"retrieval": retrieval}), index)
    return InProcessTarget(pipeline, index=index, description=where)


def _items(args: argparse.Namespace, data: SquadSet, pinned: dict[str, Any]) -> list[SquadItem]:
    items = data.items
    sample = args.sample if args.sample is not None else pinned.get("sample")
    if sample:
        items = stratified_sample(items, int(sample), args.seed)
    if args.limit is not None:
        items = items[: args.limit]
    return items


def _pin_errors(args: argparse.Namespace, pinned: dict[str, Any]) -> str | None:
    """The gate compares like with like: the baseline's sample and seed."""
    for key in ("sample", "seed"):
        mine, theirs = getattr(args, key), pinned.get(key)
        if mine is not None and theirs is not None and mine != theirs:
            return f"the baseline was set with --{key} {theirs}, not {mine}"
    if args.limit is not None:
        return "--gate and --update-baseline need the whole sample (drop --limit)"
    return None


def handle(args: argparse.Namespace) -> int:
    from eval.gate import Invariant, load_baseline, report_gate, update_baseline
    from eval.report import progress_bar
    from eval.squad import report
    from eval.squad.metrics import GATED_SQUAD, misplaced_citations
    from service.settings import Settings

    out, err = Console(), Console(stderr=True)
    data = load_squad(args.path or DEFAULT_SQUAD_DIR)
    baseline_path: Path = args.baseline or DEFAULT_BASELINE_PATH
    baseline = load_baseline(baseline_path) if args.gate else None
    pinned = dict(baseline.metadata) if baseline is not None else {}
    if args.gate or args.update_baseline:
        problem = _pin_errors(args, pinned)
        if problem:
            err.print(f"citeqa eval: {problem}")
            return 2
    if args.seed is None:
        args.seed = int(pinned.get("seed", 0))
    settings = Settings()
    retrieval = args.retrieval or pinned.get("retrieval") or settings.retrieval
    top_k = args.top_k or pinned.get("top_k") or settings.top_k
    model = None if args.url else (args.model or pinned.get("model") or None)
    items = _items(args, data, pinned)
    config = {
        "dataset": str(data.root),
        "sample": args.sample if args.sample is not None else pinned.get("sample"),
        "seed": args.seed,
        "retrieval": retrieval,
    }
    with contextlib.ExitStack() as stack:
        target = _target(args, data, retrieval, stack, err)
        with progress_bar(err, "eval [squad2]") as progress:
            task = progress.add_task("", total=len(items))
            run: SquadRun = run_squad(
                items,
                target,
                top_k=top_k,
                model=model,
                warmup=not args.url,
                on_item=lambda it: progress.update(task, advance=1, description=it.id),
                config=config,
            )
    if not args.gate:
        for table in report.tables(run, args.show_failures):
            out.print(table)
    out.print(f"{len(items)} questions in {run.seconds:.1f} s, model {run.config['model']!r}")
    if args.out is not None:
        for path in report.write_outputs(run, args.out):
            out.print(f"wrote {path}")
    if baseline is not None:
        misplaced = misplaced_citations(run.scores)
        errors = run.metrics["errors"]
        invariants = [
            Invariant("citations not at their offsets", misplaced == 0, str(misplaced)),
            Invariant("failed requests", errors.num == 0, f"{errors.num:g}"),
        ]
        return report_gate(run, baseline, data.questions_path, out, err, invariants)
    if args.update_baseline:
        extra = {
            "dataset": data.root.name,
            "sample": config["sample"],
            "seed": args.seed,
            "target": run.config["target"],
            "seconds": round(run.seconds, 1),
            "update_command": UPDATE_COMMAND,
        }
        return update_baseline(
            run, data.questions_path, baseline_path, extra, out, err, GATED_SQUAD
        )
    return 0
