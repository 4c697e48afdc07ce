"""``citeqa ingest`` and ``citeqa search``: build the index and query it from a terminal.

Exit codes of ``ingest``: 0 all files ingested, 1 some files skipped (the good ones are still
ingested), 2 an error (nothing changed on disk).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.models import IngestReport
    from service.settings import Settings

_SNIPPET_CHARS = 320


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ingest`` and ``search``."""
    ingest = sub.add_parser(
        "ingest",
        help="add .txt/.md/.html files or folders to the index",
        description="Add documents to the index (a document with an existing id is replaced).",
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    ingest.add_argument("--index-dir", type=Path, default=None, help=_index_dir_help())
    ingest.add_argument(
        "--rebuild",
        action="store_true",
        help="start from an empty index (needed after changing the model); the old index stays "
        "until the new one is complete",
    )
    ingest.set_defaults(func=run_ingest)

    search = sub.add_parser("search", help="show the chunks retrieval returns for a query")
    search.add_argument("query", help="the search text")
    search.add_argument("-k", "--top-k", type=int, default=5, help="number of hits (default 5)")
    search.add_argument("--index-dir", type=Path, default=None, help=_index_dir_help())
    search.add_argument("--json", action="store_true", help="print the hits as JSON")
    search.add_argument(
        "--mode",
        choices=("hybrid", "dense", "bm25"),
        default=None,
        help="retrieval mode (default: $CITEQA_RETRIEVAL, else hybrid)",
    )
    search.set_defaults(func=run_search)


def _index_dir_help() -> str:
    return "index folder (default: $CITEQA_INDEX_DIR, else .citeqa/index)"


def _settings() -> Settings:
    from service.settings import Settings

    return Settings()


def run_ingest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from service import wiring

    settings = _settings()
    index_dir: Path = args.index_dir or settings.index_dir
    console = Console(stderr=True)
    with console.status("loading the embedding model"):
        embedder = wiring.load_embedder(settings)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("embedding chunks", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = wiring.ingest(
            settings,
            args.paths,
            index_dir=args.index_dir,
            rebuild=args.rebuild,
            progress=progress,
            embedder=embedder,
        )
    uses_database = settings.database_url is not None and args.index_dir is None
    _print_ingest_summary(
        report, "the database (CITEQA_DATABASE_URL)" if uses_database else index_dir
    )
    return 1 if report.skipped else 0


def _print_ingest_summary(report: IngestReport, index_dir: Path | str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title="ingest summary", show_header=True)
    table.add_column("documents", justify="right")
    table.add_column("unchanged", justify="right")
    table.add_column("chunks", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("tokens/s", justify="right")
    rate = report.tokens / report.seconds if report.seconds > 0 else 0.0
    table.add_row(
        str(report.documents - report.unchanged),
        str(report.unchanged),
        str(report.chunks),
        str(len(report.skipped)),
        f"{report.seconds:.2f}",
        f"{rate:,.0f}",
    )
    console.print(table)
    console.print(f"index: {escape(str(index_dir))}", soft_wrap=True)
    if report.skipped:
        # One plain line per file (never wrapped or truncated), so paths can be copied or grepped.
        console.print(f"[bold]skipped files ({len(report.skipped)}):[/bold]")
        for item in report.skipped:
            console.print(f"  {escape(item.path)}: {escape(item.reason)}", soft_wrap=True)


def run_search(args: argparse.Namespace) -> int:
    from index.errors import IndexNotFoundError, InvalidQueryError
    from index.models import hit_to_dict
    from index.storage.manifest import MANIFEST_NAME
    from service import wiring

    settings = _settings()
    index_dir: Path = args.index_dir or settings.index_dir
    uses_database = settings.database_url is not None and args.index_dir is None
    if not uses_database and not (index_dir / MANIFEST_NAME).is_file():
        raise IndexNotFoundError(
            f"no index at {index_dir}; build one first with `citeqa ingest seeds/"
            + ("" if args.index_dir is None else f" --index-dir {index_dir}")
            + "`"
        )
    if args.top_k < 1:
        raise InvalidQueryError("-k must be at least 1")
    index = wiring.open_index(settings, index_dir=args.index_dir, build_from_seeds=False)
    mode = args.mode or settings.retrieval
    hits = index.search(args.query, top_k=args.top_k, mode=mode)
    if args.json:
        json.dump([hit_to_dict(h) for h in hits], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    _print_hits(args.query, mode, [hit_to_dict(h) for h in hits])
    return 0


def _print_hits(query: str, mode: str, hits: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    console.print(f"[bold]{escape(query)}[/bold]  ({mode}, {len(hits)} hits)")
    if not hits:
        console.print("no matching chunks")
    for hit in hits:
        text = " ".join(hit["text"].split())
        if len(text) > _SNIPPET_CHARS:
            text = text[: _SNIPPET_CHARS - 1] + "…"
        console.print(
            f"\n[bold]{hit['rank']}.[/bold] score {hit['score']:.4f}  "
            f"[cyan]{hit['doc_id']}[/cyan] [{hit['start']}:{hit['end']}]  "
            f"[dim]{escape(hit['title'])}[/dim]"
        )
        console.print(f"   {escape(text)}", highlight=False)
