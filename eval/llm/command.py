"""``citeqa eval --generator llm [--dataset squad2 PATH --sample N]``: runs each question through
the LLM path and the default answerer over one index, scores the naive baseline from the same
model call, appends every row to ``--progress`` and prints (and writes) the side-by-side table."""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from eval.gold import load_gold
from eval.llm.compare import (
    RecordingGenerator,
    append_progress,
    load_progress,
    markdown,
    score_gold_row,
    score_row,
    summarize,
    with_strict_gate,
)
from eval.squad.data import DEFAULT_SQUAD_DIR, load_squad, stratified_sample


def handle(args: argparse.Namespace) -> int:
    from service import wiring
    from service.settings import Settings

    out, err = Console(), Console(stderr=True)
    settings = Settings()
    if args.model:
        settings = settings.model_copy(update={"llm_model": args.model})
    if settings.llm_model.strip() in ("extractive", "extractive/default"):
        err.print("citeqa eval --generator llm: set CITEQA_LLM_MODEL (and CITEQA_LLM_API_BASE)")
        return 2
    progress: Path = args.progress or Path("reports/llm-eval-progress.jsonl")
    progress.parent.mkdir(parents=True, exist_ok=True)
    done = {r.id for r in load_progress(progress)}
    with contextlib.ExitStack() as stack:
        embedder = wiring.load_embedder(settings)
        if args.dataset == "squad2":
            data = load_squad(args.path or DEFAULT_SQUAD_DIR)
            items: list[Any] = data.items
            if args.sample:
                items = stratified_sample(items, int(args.sample), args.seed or 0)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citeqa-llm-")))
            wiring.ingest(settings, [data.docs_dir], index_dir=tmp / "index", embedder=embedder)
            index = wiring.open_index(settings, embedder=embedder, index_dir=tmp / "index")
            docs: dict[str, str] = data.docs
            title = f"{data.root.name}, model {settings.llm_model}"
            score: Any = score_row
        else:
            items = load_gold(args.gold)
            index = wiring.open_index(settings, embedder=embedder, index_dir=args.index_dir)
            docs = {d.id: d.text for d in index.list_documents()}
            title = f"seeds gold ({args.gold.name}), model {settings.llm_model}"
            score = score_gold_row
        if args.limit is not None:
            items = items[: args.limit]
        recorder = RecordingGenerator(wiring.build_generator(settings, index))
        llm = wiring.build_answerer(settings, index, generator=recorder)
        default = wiring.build_answerer(
            settings.model_copy(update={"llm_model": "extractive"}), index
        )
        todo = [it for it in items if it.id not in done]
        # A seeded shuffle, so a run that is cut short is still a sample of every article and
        # of answerable and unanswerable questions alike.
        random.Random(args.seed or 0).shuffle(todo)
        err.print(f"{len(items)} questions, {len(done)} already in {progress}, {len(todo)} to go")
        for i, item in enumerate(todo, start=1):
            t = time.perf_counter()
            error = None
            try:
                llm_out = llm.answer(item.question).to_dict()
            except Exception as exc:  # a failed question is counted, never the end of the run
                llm_out, error = {}, f"{type(exc).__name__}: {exc}"
            llm_ms = (time.perf_counter() - t) * 1000.0
            t = time.perf_counter()
            default_out = default.answer(item.question).to_dict()
            default_ms = (time.perf_counter() - t) * 1000.0
            row = score(
                item,
                llm_out,
                llm_ms,
                recorder.last,
                recorder.last_ms,
                default_out,
                default_ms,
                docs,
                error,
            )
            append_progress(progress, row)
            err.print(
                f"[{len(done) + i}/{len(items)}] {item.id} llm={row.llm['correct']} "
                f"naive={row.naive['has_answer']} default={row.default['correct']} "
                f"{llm_ms / 1000:.1f}s"
            )
    wanted = {it.id for it in items}
    rows = [r for r in load_progress(progress) if r.id in wanted]
    table = markdown(summarize(rows), title)
    table += "\n" + markdown(
        summarize(with_strict_gate(rows)),
        f"{title}, CITEQA_LLM_GATE=any (derived from the same rows)",
    )
    out.print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "llm-eval.md").write_text(table, encoding="utf-8")
        out.print(f"wrote {args.out / 'llm-eval.md'}")
    return 0
