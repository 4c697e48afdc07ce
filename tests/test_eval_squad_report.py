"""``citeqa eval --dataset squad2``: the runner over a scripted pipeline, every report section,
the gate against a baseline (tolerance rule and invariants), and the missing-dataset message."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from eval.gate import Baseline, Invariant, baseline_json, check, report_gate
from eval.harness import InProcessTarget
from eval.squad import command as squad_command
from eval.squad import report
from eval.squad.data import SquadItem, load_squad
from eval.squad.metrics import GATED_SQUAD
from eval.squad.run import SquadRun, run_squad
from service.answering.conversation import Turn
from service.answering.types import Answer, Citation
from tests.test_eval_squad_data import make_squad_dataset


class ScriptedPipeline:
    """Answers answerable questions with the gold span's sentence (every ``wrong``-th one with
    another sentence), refuses unanswerable ones every other time, and may crash on one."""

    def __init__(
        self,
        items: list[SquadItem],
        docs: Mapping[str, str],
        wrong: int = 4,
        crash: str | None = None,
        confidence: bool = True,
    ) -> None:
        self.by_q = {it.question: (i, it) for i, it in enumerate(items)}
        self.docs, self.wrong, self.crash, self.confidence = docs, wrong, crash, confidence

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        if question == self.crash:
            raise RuntimeError("boom")
        if question not in self.by_q:
            return Answer("warm-up", True)
        i, it = self.by_q[question]
        text = self.docs[it.doc_id]
        conf = (0.2 + 0.6 * (i % 2)) if self.confidence else None
        if not it.answerable and i % 2 == 0:
            return Answer("No.", True, abstain_code="low_confidence", confidence=0.05)
        s, e = it.spans[0] if it.answerable else (0, 10)
        if it.answerable and i % self.wrong == 0:
            s, e = 0, 10  # the title: neither the answer nor a covering citation
        start, end = text.rfind("\n", 0, s) + 1, text.find("\n", e)
        quote = text[start:end]
        cite = Citation(1, it.doc_id, "c", "", quote, start, end)
        return Answer(f"{quote} [1]", False, citations=(cite,), confidence=conf, model="scripted")


def _run(tmp_path: Path, **kw: Any) -> tuple[SquadRun, list[SquadItem]]:
    data = load_squad(make_squad_dataset(tmp_path / "squad"))
    pipeline = ScriptedPipeline(data.items, data.docs, **kw)
    target = InProcessTarget(pipeline, seeds_dir=data.docs_dir)
    return run_squad(data.items, target, top_k=5, warmup=True), data.items


def test_the_runner_scores_every_question(tmp_path: Path) -> None:
    run, items = _run(tmp_path, crash="Who founded the town of Saltmere?")
    assert len(run.runs) == len(items) == 24
    m = run.metrics
    assert m["errors"].num == 1
    assert m["citation.validity"].value == 1.0
    assert m["squad.unanswerable_refused"].den == 9
    assert 0 < m["squad.correct_cited"].value < 1  # type: ignore[operator]
    assert "wall" in run.latency
    assert run.config["model"] == "scripted"
    crashed = next(r for r in run.runs if r.score.error)
    assert "RuntimeError: boom" in crashed.score.error  # type: ignore[operator]


def test_the_report_has_every_section(tmp_path: Path) -> None:
    run, _ = _run(tmp_path)
    written = report.write_outputs(run, tmp_path / "out")
    names = {p.name for p in written}
    assert names == {"report.json", "report.md", "latency.png", "by_qtype.png", "reliability.png"}
    for p in written:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    for section in report.SECTIONS:
        assert f"## {section}" in md, section
    assert "| squad.correct_cited |" in md
    assert "citations whose quote is not at its offsets: 0" in md
    assert "Who destroyed the town of Brenmouth?" in md  # an unanswerable question answered
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    for key in ("metrics", "misplaced_citations", "median_answer_words", "latency_p50_ms",
                "latency_p95_ms", "by_qtype", "reliability", "failures", "items"):  # fmt: skip
        assert key in data, key
    assert data["misplaced_citations"] == 0
    assert {row["qtype"] for row in data["by_qtype"]} >= {"who", "what", "which"}
    assert data["reliability"]["bins"]
    assert all({"question", "gold", "answered", "why"} <= set(f) for f in data["failures"])
    console = Console(record=True, width=120)
    for table in report.tables(run, failure_limit=3):
        console.print(table)
    shown = console.export_text()
    assert "per question type" in shown
    assert "reliability of answered questions" in shown
    assert "first 3; report.md lists all" in shown


def test_without_confidences_the_reliability_section_says_so(tmp_path: Path) -> None:
    run, _ = _run(tmp_path, confidence=False)
    written = report.write_outputs(run, tmp_path / "out")
    assert "reliability.png" not in {p.name for p in written}
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "carry no `confidence`" in md


def test_the_gate_uses_the_seeds_tolerance_rule_and_its_invariants(tmp_path: Path) -> None:
    good, _ = _run(tmp_path / "a", wrong=1000)
    worse, _ = _run(tmp_path / "b", wrong=2)
    data = baseline_json(good, tmp_path / "a" / "squad" / "questions.jsonl", {}, GATED_SQUAD)
    assert set(data["metrics"]) == set(GATED_SQUAD)
    assert data["metrics"]["squad.correct_cited"]["tolerance"] == 0.07  # one of 15 items
    baseline = Baseline(
        {k: (v["value"], v["tolerance"]) for k, v in data["metrics"].items()}, data["metadata"]
    )
    assert all(row.passed for row in check(good, baseline))
    assert not next(r for r in check(worse, baseline) if r.name == "squad.correct_cited").passed
    path = tmp_path / "a" / "squad" / "questions.jsonl"
    out, err = Console(), Console(stderr=True)
    assert report_gate(good, baseline, path, out, err) == 0
    assert report_gate(worse, baseline, path, out, err) == 1
    broken = [Invariant("citations not at their offsets", False, "1")]
    assert report_gate(good, baseline, path, out, err, broken) == 1


def _args(*argv: str) -> argparse.Namespace:
    """``citeqa eval --dataset squad2 ...`` parsed by the real command's parser."""
    from eval.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["eval", "--dataset", "squad2", *argv])


def test_update_baseline_then_gate_through_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_squad_dataset(tmp_path / "squad")
    data = load_squad(root)
    wrong = {"n": 1000}

    def fake_target(*_: Any) -> Any:
        pipeline = ScriptedPipeline(data.items, data.docs, wrong=wrong["n"])
        return InProcessTarget(pipeline, seeds_dir=data.docs_dir, description="scripted")

    monkeypatch.setattr(squad_command, "_target", fake_target)
    baseline = tmp_path / "baseline_squad2.json"
    at = ("--baseline", str(baseline))
    args = _args(str(root), *at, "--update-baseline", "--sample", "18", "--seed", "3")
    assert squad_command.handle(args) == 0
    meta = json.loads(baseline.read_text(encoding="utf-8"))["metadata"]
    assert (meta["sample"], meta["seed"], meta["n_items"]) == (18, 3, 18)
    assert meta["update_command"] == squad_command.UPDATE_COMMAND
    # The gate takes the sample and seed from the baseline.
    assert squad_command.handle(_args(str(root), *at, "--gate")) == 0
    assert squad_command.handle(_args(str(root), *at, "--gate", "--seed", "4")) == 2
    wrong["n"] = 1
    assert squad_command.handle(_args(str(root), *at, "--gate")) == 1
    assert "gate FAILED: squad.correct_cited" in capsys.readouterr().err


def test_a_missing_dataset_fails_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main

    assert main(["eval", "--dataset", "squad2", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert "no SQuAD 2.0-format dataset here" in err
    assert "eval/squad2-dev" in err


def test_squad_options_need_the_squad_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["eval", "--sample", "10"]) == 2
    assert "need --dataset squad2" in capsys.readouterr().err
