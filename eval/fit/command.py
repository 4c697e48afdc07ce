"""``citeqa fit``: fit the general answerer on SQuAD dev (and optionally the seeds gold set) and
write its artifact, with leave-one-article-out figures.

Examples::

    citeqa fit                                  # SQuAD dev -> the product's artifact
    citeqa fit --with-gold                      # also fit on eval/gold.jsonl over seeds/
    citeqa fit --out /tmp/model.json --no-loao  # quick: no held-out figures
    python -m eval.fit ...                      # the same, before `make setup` registers it

The retrieval cache (``.citeqa/fit-cache/``) is built on first use with the serving embedder and
reused while its inputs (data, k, retrieval mode, embedder, ``index/`` source) are unchanged.
The artifact records the cache hashes, the command, the parameters, the out-of-fold figures the
threshold was chosen on, the held-out (LOAO) figures, and the fit time.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from eval.fit.progress import FitProgress, figures_table
from eval.gold import DEFAULT_GOLD_PATH
from eval.squad.data import DEFAULT_SQUAD_DIR

NO_LOAO_NOTE = "held-out figures skipped (--no-loao)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from eval.fit.training import Params

    d = Params()
    p = sub.add_parser(
        "fit",
        help="fit the general answerer's artifact on dev data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", nargs="?", type=Path, default=DEFAULT_SQUAD_DIR, help="SQuAD folder")
    p.add_argument("--with-gold", action="store_true", help="also fit on the seeds gold set")
    p.add_argument("--gold", type=Path, default=DEFAULT_GOLD_PATH, help="seeds gold JSONL")
    p.add_argument("--out", type=Path, default=None, help="artifact path (default: the product's)")
    p.add_argument("--cache-dir", type=Path, default=None, help="default .citeqa/fit-cache")
    p.add_argument("--rebuild-cache", action="store_true", help="rebuild the retrieval cache")
    p.add_argument("-k", "--retrieve", type=int, default=10, help="hits cached per question")
    p.add_argument(
        "--passages",
        default="served",
        help="passages per question given to the answerer while fitting: a number (<= -k) or "
        "'served' (the settings' top_k, 10 for quantity questions, as the pipeline retrieves)",
    )
    p.add_argument("--max-false-refusal", type=float, default=d.max_false_refusal)
    p.add_argument("--top-sentences", type=int, default=d.top_sentences)
    p.add_argument("--second-quote-ratio", type=float, default=d.second_quote_ratio)
    p.add_argument("--no-loao", action="store_true", help="skip the held-out (LOAO) figures")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: the fit is many small solves; more threads only contend)",
    )
    p.set_defaults(func=handle)


def _command_line() -> str:
    argv = sys.argv[1:]
    if "fit" in argv:
        argv = argv[argv.index("fit") + 1 :]
    return shlex.join(["citeqa", "fit", *argv])


def _passages(text: str, retrieve: int) -> int | None:
    if text == "served":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= retrieve:
        raise SystemExit(f"citeqa fit: --passages must be 'served' or 1..{retrieve}, not {text!r}")
    return value


def handle(args: argparse.Namespace) -> int:
    from service import wiring
    from service.settings import Settings

    settings = Settings()
    out, err = Console(), Console(stderr=True)
    passages = _passages(str(args.passages), args.retrieve)
    with err.status("loading the embedding model"):
        embedder = wiring.load_embedder(settings)
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with FitProgress(err) as progress, threadpool_limits(limits=max(1, args.threads)):
        result = fit(args, settings, embedder, passages, progress)
    for table in figures_table(result):
        out.print(table)
    out.print(f"wrote {result['path']} (threshold {result['threshold']:.3f})")
    return 0


def fit(
    args: argparse.Namespace,
    settings: Any,
    embedder: Any,
    passages: int | None,
    progress: FitProgress,
) -> dict[str, Any]:
    """Caches, fits, evaluates and writes the artifact; returns what the tables show."""
    from eval.fit.cache import DEFAULT_CACHE_DIR, cached
    from eval.fit.dataset import limit_passages, load_items
    from eval.fit.evaluate import answer_items, loao, per_article, summary
    from eval.fit.sources import GoldSource, SquadSource
    from eval.fit.training import Params, Trainer
    from service.answering.generators.extractive.answer import load_model
    from service.answering.generators.extractive.generator import MODEL_PATH
    from service.answering.pipeline import COUNT_TOP_K

    started = time.perf_counter()
    cache_dir = args.cache_dir or DEFAULT_CACHE_DIR
    caches = {}
    for source in (SquadSource(args.data), GoldSource(args.gold, settings.seeds_dir)):
        caches[source.name], _built = cached(
            source,
            embedder,
            k=args.retrieve,
            settings=settings,
            kind=settings.embedder,
            cache_dir=cache_dir,
            rebuild=args.rebuild_cache,
            progress=progress.cache_of(source.name),
        )
    cache_seconds = time.perf_counter() - started
    squad, vectors = load_items(caches["squad"])
    seeds, seed_vectors = load_items(caches["seeds"])
    squad = limit_passages(squad, passages, settings.top_k)
    seeds = limit_passages(seeds, passages, settings.top_k)
    vectors = vectors.merged(seed_vectors)
    params = Params(
        max_false_refusal=args.max_false_refusal,
        top_sentences=args.top_sentences,
        second_quote_ratio=args.second_quote_ratio,
    )
    train = squad + seeds if args.with_gold else squad
    trainer = Trainer(vectors, params)
    t0 = time.perf_counter()
    figures: dict[str, Any] = {}
    seed_rows = None
    if not args.no_loao:
        rows = loao(trainer, train, vectors, on_fold=progress.held_out)
        squad_rows = [r for r in rows if r.item.article != "seeds"]
        figures["squad"] = {**summary(squad_rows), "per_article": per_article(squad_rows)}
        if args.with_gold:
            seed_rows = [r for r in rows if r.item.article == "seeds"]
    loao_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    n_folds = len({it.article for it in train}) + 1
    model, oof = trainer.fit(train, on_fold=progress.final(n_folds))
    final_seconds = time.perf_counter() - t1
    if not args.with_gold:  # the final model never saw the seeds: they are held out
        seed_rows = answer_items(seeds, model, vectors)
    if seed_rows is not None:
        figures["seeds"] = summary(seed_rows)
    answerable = [o for o in oof if o.item.answerable]
    unanswerable = [o for o in oof if not o.item.answerable]
    t = model.threshold
    model.meta.update(
        {
            "version": 1,
            "data": {
                name: {
                    "cache": str(c.path.relative_to(c.path.parents[1])),
                    "content_sha256": c.content_sha256,
                    **c.data["meta"],
                }
                for name, c in caches.items()
            },
            "fitted_on": sorted({it.article for it in train}),
            "n_questions": len(train),
            "passages": (
                f"served: top_k {settings.top_k}, {COUNT_TOP_K} for quantity questions"
                if passages is None
                else passages
            ),
            "command": _command_line(),
            "params": asdict(params),
            "python": platform.python_version(),
            "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            # The out-of-fold outcomes the calibration and the threshold were chosen on.
            "oof": {
                "correct_cited": sum(o.correct and o.confidence >= t for o in answerable)
                / max(1, len(answerable)),
                "false_refusal": sum(o.confidence < t for o in answerable)
                / max(1, len(answerable)),
                "unanswerable_refused": sum(o.confidence < t for o in unanswerable)
                / max(1, len(unanswerable)),
            },
            "loao": figures if figures else NO_LOAO_NOTE,
            "vector_misses": vectors.misses,
            "fit_seconds": round(final_seconds + loao_seconds, 1),
            "seconds": {
                "cache": round(cache_seconds, 1),
                "loao": round(loao_seconds, 1),
                "final_fit": round(final_seconds, 1),
            },
        }
    )
    if vectors.misses:
        raise SystemExit(
            f"citeqa fit: {vectors.misses} sentence(s) missing from the cache; the cache does "
            "not match the code: rerun with --rebuild-cache"
        )
    path: Path = args.out or MODEL_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    load_model(path)  # the artifact must load as the product loads it
    return {"path": path, "threshold": t, "meta": model.meta, "figures": figures}
