"""What ``citeqa fit`` shows: progress bars while it works, then tables of its figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


class FitProgress:
    """One bar per stage: cache building, held-out articles, the final fit's folds."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> FitProgress:
        self.bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bars.stop()

    def _update(self, key: str, description: str, done: int, total: int) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(description, total=total)
        self.bars.update(self.tasks[key], description=description, completed=done, total=total)

    def cache_of(self, source: str) -> Callable[[str, int, int], None]:
        """A callback for building ``source``'s cache: indexing, retrieving, sentence vectors."""

        def stage(name: str, done: int, total: int) -> None:
            self._update(f"{source}:{name}", f"{source} cache: {name}", done, total)

        return stage

    def held_out(self, article: str, done: int, total: int) -> None:
        """One held-out article answered by a model fitted on the others."""
        self._update("loao", f"held out: {article}", done, total)

    def final(self, total: int) -> Callable[[str], None]:
        """A callback counting the final fit's folds (``total`` = articles + the full fit)."""
        done = 0
        self._update("final", "final fit", 0, total)

        def step(article: str) -> None:
            nonlocal done
            done += 1
            self._update("final", f"final fit: {article}", done, total)

        return step


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def figures_table(result: Mapping[str, Any]) -> list[Table]:
    """The held-out figures, the per-article ones, and the artifact's own numbers."""
    figures: Mapping[str, Any] = result["figures"]
    meta: Mapping[str, Any] = result["meta"]
    tables = []
    held = Table(title="held-out figures (README rule)", title_justify="left")
    names = {"squad": "SQuAD dev (LOAO)", "seeds": "seeds gold"}
    held.add_column("figure")
    for name in figures:
        held.add_column(names.get(name, name), justify="right")
    rows: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
        ("answerable / unanswerable", lambda f: f"{f['n_answerable']} / {f['n_unanswerable']}"),
        ("correct with covering citation", lambda f: _pct(f["correct_cited"])),
        ("false refusals", lambda f: _pct(f["false_refusal"])),
        ("unanswerable refused", lambda f: _pct(f["unanswerable_refused"])),
        ("median words (answerable)", lambda f: _num(f["median_words"], 0)),
        ("ECE, answered", lambda f: _num(f["ece"])),
        ("ECE, all (abstention off)", lambda f: _num(f["ece_all"])),
    )
    for label, show in rows:
        held.add_row(label, *(show(f) for f in figures.values()))
    tables.append(held)
    arts = figures.get("squad", {}).get("per_article", {})
    if arts:
        per = Table(title="per held-out article", title_justify="left")
        for col in ("article", "threshold", "correct+cited", "false refusals", "unans. refused"):
            per.add_column(col, justify="left" if col == "article" else "right")
        for art, f in arts.items():
            per.add_row(
                art,
                _num(f["threshold"]),
                _pct(f["correct_cited"]),
                _pct(f["false_refusal"]),
                _pct(f["unanswerable_refused"]),
            )
        tables.append(per)
    art = Table(title=f"artifact {result['path']}", title_justify="left")
    art.add_column("field")
    art.add_column("value", justify="right")
    oof = meta["oof"]
    art.add_row("threshold", _num(result["threshold"]))
    art.add_row("out-of-fold correct+cited", _pct(oof["correct_cited"]))
    art.add_row("out-of-fold false refusals", _pct(oof["false_refusal"]))
    art.add_row("out-of-fold unanswerable refused", _pct(oof["unanswerable_refused"]))
    art.add_row("fitted on", f"{meta['n_questions']} questions, {len(meta['fitted_on'])} articles")
    for name, d in meta["data"].items():
        art.add_row(f"data {name}", d["content_sha256"][:16])
    secs = meta["seconds"]
    art.add_row(
        "seconds (cache / LOAO / final fit)",
        f"{secs['cache']} / {secs['loao']} / {secs['final_fit']}",
    )
    tables.append(art)
    return tables
