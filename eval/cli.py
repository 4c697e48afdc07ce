"""``citeqa eval``: run the gold set in-process or against a URL, report, gate, baseline, feedback.

Examples::

    citeqa eval --out reports/eval            # tables + report.json, report.md, PNG plots
    citeqa eval --compare                     # dense vs bm25 vs hybrid side by side
    citeqa eval --gate                        # exit 1 when a metric drops below the baseline
    citeqa eval --update-baseline             # the deliberate way to move the baseline
    citeqa eval --url http://127.0.0.1:8000   # a running `citeqa serve`
    citeqa eval --from-feedback .citeqa/feedback.jsonl --feedback-out candidates.jsonl
    citeqa eval --dataset squad2 eval/squad2-dev --out reports/eval-squad2
    citeqa eval --dataset squad2 --sample 300 --gate   # vs eval/baseline_squad2.json
    citeqa eval --dataset conversations --gate         # follow-ups vs standalone forms

In-process runs build a fresh index of the seeds folder in a temporary directory (so every run
starts from the same corpus) unless ``--index-dir`` names an existing index. ``--dataset squad2``
runs a SQuAD 2.0-format folder instead (default ``eval/squad2-dev``, a vendored copy) over
a fresh index of its ``docs/``, scored by its README's rule (:mod:`eval.squad`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from eval.gold import DEFAULT_GOLD_PATH, GoldItem, load_gold
from eval.harness import (
    EvalRun,
    HttpTarget,
    InProcessTarget,
    Mode,
    Target,
    fresh_index,
    run_eval,
)

MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="score answers, citations and retrieval on the gold set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gold", type=Path, default=DEFAULT_GOLD_PATH, help="gold JSONL file")
    p.add_argument(
        "--dataset",
        choices=("seeds", "squad2", "conversations"),
        default="seeds",
        help="seeds: the gold set over seeds/ (default); squad2: a SQuAD 2.0-format folder; "
        "conversations: the multi-turn gold (eval/conversations.jsonl), follow-ups vs standalone",
    )
    p.add_argument("path", nargs="?", type=Path, help="the squad2 folder (docs/, questions.jsonl)")
    p.add_argument("--sample", type=_positive, help="squad2: a fixed stratified sample of N")
    p.add_argument("--seed", type=int, default=None, help="squad2: the sample's seed (default 0)")
    p.add_argument(
        "--show-failures", type=int, default=20, metavar="N", help="squad2: failures printed"
    )
    p.add_argument("--url", help="base URL of a running service (POST {url}/ask)")
    p.add_argument("--api-key", default=os.environ.get("CITEQA_EVAL_API_KEY"), help="for --url")
    p.add_argument("--model", help="generator model (default: settings / baseline)")
    p.add_argument(
        "--generator",
        choices=("default", "llm"),
        default="default",
        help="llm: the LLM path vs the default answerer vs a naive LLM, side by side",
    )
    p.add_argument("--progress", type=Path, help="--generator llm: append each row to this file")
    p.add_argument("--retrieval", choices=MODES, help="retrieval mode (default: settings)")
    p.add_argument("-k", "--top-k", type=_positive, default=None, help="passages per answer")
    p.add_argument("--index-dir", type=Path, help="use this existing index instead of the seeds")
    p.add_argument(
        "--backend",
        choices=("embedded", "postgres"),
        default="embedded",
        help="postgres: index into CITEQA_DATABASE_URL (replacing the corpus it holds) instead "
        "of a fresh index folder",
    )
    p.add_argument("--out", type=Path, help="write report.json, report.md and PNG plots here")
    p.add_argument("--compare", action="store_true", help="dense vs bm25 vs hybrid side by side")
    p.add_argument("--limit", type=_positive, help="only the first N gold items (quick checks)")
    p.add_argument(
        "--threads",
        type=_positive,
        default=1,
        help="torch threads in-process (default 1: questions run one at a time, and extra "
        "threads only contend on a shared machine)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--gate", action="store_true", help="fail when below baseline - tolerance")
    group.add_argument("--update-baseline", action="store_true", help="rewrite the baseline")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="baseline JSON (default: eval/baseline.json; squad2: eval/baseline_squad2.json)",
    )
    p.add_argument("--from-feedback", type=Path, metavar="FILE", help="Slack feedback JSONL")
    p.add_argument(
        "--feedback-out",
        type=Path,
        default=Path(".citeqa/feedback-candidates.jsonl"),
        help="where candidate gold items go (JSONL, review before adding to the gold set)",
    )
    p.set_defaults(func=handle)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def handle(args: argparse.Namespace) -> int:
    out = Console()
    err = Console(stderr=True)
    if args.from_feedback is not None:
        return _feedback(args, out)
    if args.dataset == "conversations":
        from eval.conversations.command import handle as handle_conversations

        return handle_conversations(args)
    if args.generator == "llm":
        from eval.llm.command import handle as handle_llm

        return handle_llm(args)
    if args.dataset == "squad2":
        if args.compare:
            err.print("citeqa eval: --compare is for the seeds gold set")
            return 2
        from eval.squad.command import handle as handle_squad

        return handle_squad(args)
    if args.path is not None or args.sample is not None or args.seed is not None:
        err.print("citeqa eval: PATH, --sample and --seed need --dataset squad2")
        return 2
    from eval.gate import DEFAULT_BASELINE_PATH, load_baseline
    from service.settings import Settings

    settings = Settings()
    gold = load_gold(args.gold)
    if args.limit is not None:
        gold = gold[: args.limit]
    baseline_path: Path = args.baseline or DEFAULT_BASELINE_PATH
    baseline = load_baseline(baseline_path) if args.gate else None
    pinned = baseline.metadata if baseline is not None else {}
    model: str | None = args.model or pinned.get("model") or None
    retrieval: Mode = args.retrieval or pinned.get("retrieval") or settings.retrieval
    top_k: int = args.top_k or pinned.get("top_k") or settings.top_k
    if args.url and args.model:
        err.print("citeqa eval: --model cannot be used with --url (set the server's model)")
        return 2
    if args.url:
        model = None
    if args.update_baseline and args.limit is not None:
        err.print("citeqa eval: --update-baseline needs the whole gold set (drop --limit)")
        return 2

    with contextlib.ExitStack() as stack:
        target, for_mode = _open_target(args, settings, retrieval, stack, err)
        main = _run(gold, target, retrieval, top_k, model, err, label=retrieval)
        compare: dict[str, EvalRun] | None = None
        if args.compare:
            compare = {}
            for mode in MODES:
                compare[mode] = (
                    main
                    if mode == retrieval
                    else _run(gold, for_mode(mode, main), mode, top_k, model, err, label=mode)
                )

    from eval import report

    if not args.gate:
        out.print(report.metrics_table(main, f"citeqa eval ({main.config['target']})"))
        out.print(report.tag_table(main))
        out.print(report.latency_table(main))
    if compare:
        out.print(report.compare_table(compare))
        if args.url:
            out.print("(--url: answers come from the server's own retrieval mode)")
    out.print(f"{len(gold)} questions in {main.seconds:.1f} s, model {main.config['model']!r}")
    if args.out is not None:
        for path in report.write_outputs(main, args.out, compare):
            out.print(f"wrote {path}")
    if args.gate and baseline is not None:
        return _gate(main, baseline, args.gold, out, err)
    if args.update_baseline:
        return _update_baseline(main, args.gold, baseline_path, out, err)
    return 0


def _open_target(
    args: argparse.Namespace,
    settings: Any,
    retrieval: Mode,
    stack: contextlib.ExitStack,
    err: Console,
) -> tuple[Target, Callable[[Mode, EvalRun], Target]]:
    """The target of the main run and a factory for the other modes of ``--compare``."""
    if args.url:
        http = HttpTarget(args.url, api_key=args.api_key, seeds_dir=settings.seeds_dir)
        stack.callback(http.close)
        return http, lambda _mode, main: _ReplayTarget(http, main)

    import torch

    from service import wiring

    torch.set_num_threads(args.threads)
    with err.status("loading the embedding model"):
        embedder = _QueryMemoEmbedder(wiring.load_embedder(settings))
    if args.index_dir is not None:
        index = wiring.open_index(
            settings, embedder=embedder, index_dir=args.index_dir, build_from_seeds=False
        )
        where = f"in-process, index {args.index_dir}"
    else:
        with err.status(f"indexing {settings.seeds_dir}"):
            index, where = fresh_index(args, settings, settings.seeds_dir, embedder, stack)

    def for_mode(mode: Mode, _main: EvalRun | None = None) -> Target:
        pipeline = wiring.build_answerer(settings.model_copy(update={"retrieval": mode}), index)
        return InProcessTarget(pipeline, index=index, description=where)

    return for_mode(retrieval), for_mode


class _QueryMemoEmbedder:
    """Remembers the last query's vector: the pipeline and the retrieval metrics embed the same
    question back to back. One entry only, so runs of ``--compare`` do not share warm caches."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_name: str = inner.model_name
        self.dim: int = inner.dim
        self.weights_sha256: str = inner.weights_sha256
        self.max_seq_length: int = inner.max_seq_length
        self._last: tuple[str, Any] | None = None

    def embed_documents(self, texts: Any) -> Any:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Any:
        if self._last is None or self._last[0] != text:
            self._last = (text, self.inner.embed_query(text))
        return self._last[1].copy()


class _ReplayTarget:
    """Reuses a finished run's answers and only asks the service for another retrieval mode."""

    def __init__(self, target: HttpTarget, run: EvalRun) -> None:
        self.target = target
        self.outputs = {r.item.question: r.output for r in run.runs}
        self.description = target.description

    def ask(self, question: str, top_k: int | None, model: str | None) -> dict[str, Any]:
        return self.outputs[question]

    def ranked_texts(self, question: str, mode: Mode) -> list[str] | None:
        return self.target.ranked_texts(question, mode)

    def document_text(self, doc_id: str) -> str | None:
        return self.target.document_text(doc_id)


def _run(
    gold: list[GoldItem],
    target: Target,
    retrieval: Mode,
    top_k: int | None,
    model: str | None,
    err: Console,
    label: str,
) -> EvalRun:
    from eval.report import progress_bar

    with progress_bar(err, f"eval [{label}]") as progress:
        task = progress.add_task("", total=len(gold))

        def advance(item: GoldItem) -> None:
            progress.update(task, advance=1, description=item.id)

        return run_eval(
            gold,
            target,
            retrieval=retrieval,
            top_k=top_k,
            model=model,
            warmup=isinstance(target, InProcessTarget),
            on_item=advance,
        )


def _gate(run: EvalRun, baseline: Any, gold_path: Path, out: Console, err: Console) -> int:
    from eval.gate import report_gate

    return report_gate(run, baseline, gold_path, out, err)


def _update_baseline(run: EvalRun, gold_path: Path, path: Path, out: Console, err: Console) -> int:
    from eval.gate import update_baseline

    extra = {"target": run.config["target"], "seconds": round(run.seconds, 1)}
    return update_baseline(run, gold_path, path, extra, out, err)


def _feedback(args: argparse.Namespace, out: Console) -> int:
    from eval.feedback import convert_feedback

    gold = load_gold(args.gold) if args.gold.is_file() else []
    rep = convert_feedback(args.from_feedback, args.feedback_out, gold)
    out.print(
        f"{len(rep.candidates)} candidate(s) written to {args.feedback_out} from {rep.lines} "
        f"line(s): {rep.malformed} malformed skipped, {rep.duplicates} duplicate(s) merged, "
        f"{rep.already_in_gold} already in the gold set"
    )
    return 0


__all__ = ["handle", "register"]
