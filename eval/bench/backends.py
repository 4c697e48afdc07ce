"""Retrieval of the two backends side by side: evidence@1/@5 per mode, and top-5 agreement.

evidence@k is the share of answerable questions whose top ``k`` chunks hold gold evidence: on the
seeds gold, a chunk containing one of the item's evidence quotes; on a SQuAD folder, a chunk of
the question's document spanning one of its gold answer spans. Both backends index the same
documents with the same embedder; the Postgres one into ``--database-url`` (its corpus is
replaced)::

    python -m eval.bench.backends --database-url postgresql://... --json reports/backends.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from eval.gold import DEFAULT_GOLD_PATH, load_gold
from eval.metrics import normalize_quote_text
from eval.squad.data import DEFAULT_SQUAD_DIR, load_squad
from index.models import Hit

KS = (1, 5)
MODES = ("hybrid", "bm25", "dense")

Judge = Callable[[Sequence[Hit]], list[bool]]
"""Which of a question's ranked hits hold its gold evidence."""


def seeds_questions() -> list[tuple[str, Judge]]:
    out: list[tuple[str, Judge]] = []
    for item in load_gold(DEFAULT_GOLD_PATH):
        quotes = [normalize_quote_text(e.quote) for e in item.evidence]
        if not quotes:
            continue

        def judge(hits: Sequence[Hit], quotes: list[str] = quotes) -> list[bool]:
            return [any(q in normalize_quote_text(h.chunk.text) for q in quotes) for h in hits]

        out.append((item.question, judge))
    return out


def squad_questions(root: Path) -> list[tuple[str, Judge]]:
    out: list[tuple[str, Judge]] = []
    for item in load_squad(root).items:
        if not item.answerable or not item.spans:
            continue

        def judge(
            hits: Sequence[Hit], doc: str = item.doc_id, spans: Any = item.spans
        ) -> list[bool]:
            return [
                h.chunk.doc_id == doc
                and any(h.chunk.start <= s and e <= h.chunk.end for s, e in spans)
                for h in hits
            ]

        out.append((item.question, judge))
    return out


def measure(index: Any, questions: Sequence[tuple[str, Judge]]) -> dict[str, Any]:
    """evidence@k per mode, and every question's top-5 chunk ids (for the agreement)."""
    figures: dict[str, Any] = {}
    tops: dict[str, list[list[str]]] = {}
    for mode in MODES:
        found = dict.fromkeys(KS, 0)
        tops[mode] = []
        for question, judge in questions:
            hits = index.search(question, top_k=max(KS), mode=mode)
            relevant = judge(hits)
            tops[mode].append([h.chunk.id for h in hits])
            for k in KS:
                found[k] += any(relevant[:k])
        for k in KS:
            figures[f"{mode}_evidence@{k}"] = round(found[k] / len(questions), 4)
    return {"figures": figures, "tops": tops}


def compare(database_url: str, docs_dir: Path, questions: Sequence[tuple[str, Judge]]) -> Any:
    from index.corpus import build_index
    from service import wiring
    from service.settings import Settings

    settings = Settings()
    embedder = wiring.load_embedder(settings)
    with tempfile.TemporaryDirectory(prefix="citeqa-backends-") as tmp:
        build_index([docs_dir], Path(tmp) / "index", embedder)
        embedded = wiring.open_index(settings, embedder=embedder, index_dir=Path(tmp) / "index")
        left = measure(embedded, questions)
    pg = wiring.open_database_index(
        settings.model_copy(update={"database_url": SecretStr(database_url)}), embedder
    )
    try:
        pg.ingest_paths([docs_dir], settings.max_file_bytes, replace_all=True)
        right = measure(pg, questions)
    finally:
        pg.close()
    agreement = {
        mode: round(
            sum(a == b for a, b in zip(left["tops"][mode], right["tops"][mode], strict=True))
            / len(questions),
            4,
        )
        for mode in MODES
    }
    return {
        "questions": len(questions),
        "embedded": left["figures"],
        "postgres": right["figures"],
        "same_top5": agreement,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a database citeqa may fill")
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD_DIR, help="SQuAD folder")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    from service.settings import Settings

    results = {
        "seeds": compare(args.database_url, Settings().seeds_dir, seeds_questions()),
        "squad2": compare(args.database_url, args.squad / "docs", squad_questions(args.squad)),
    }
    for name, result in results.items():
        print(f"{name}: {result['questions']} answerable questions")
        print(f"  {'figure':24s} {'embedded':>9s} {'postgres':>9s}")
        for key, value in result["embedded"].items():
            print(f"  {key:24s} {value:9.4f} {result['postgres'][key]:9.4f}")
        print(f"  same top-5 chunks: {result['same_top5']}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
