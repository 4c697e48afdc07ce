"""The eval runner against fakes, a live HTTP app, and (slow) the real pipeline; plus the gate."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from eval.gate import (
    DEFAULT_BASELINE_PATH,
    GATED,
    Baseline,
    baseline_json,
    check,
    default_tolerance,
    load_baseline,
    write_baseline,
)
from eval.gold import DEFAULT_GOLD_PATH, GoldItem, load_gold
from eval.harness import EvalRun, HttpTarget, InProcessTarget, run_eval
from index.errors import GenerationError, InvalidDocumentError
from service.answering.conversation import Turn
from service.answering.types import Answer, Citation

GOLD = load_gold(DEFAULT_GOLD_PATH)
BY_Q = {g.question: g for g in GOLD}
TROOPS_Q = "How many North Korean troops are in Russia?"
PACT_Q = "Who signed the mutual defense pact?"
TANKS_Q = "How many tanks has Pyongyang supplied to Moscow?"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
D0, D2 = "000_b9f469ab44661bfc", "002_305273ed8ae84061"


def _cite(doc_id: str, quote: str, cid: int = 1) -> Citation:
    text = (SEEDS / f"{doc_id}.txt").read_text(encoding="utf-8")
    start = text.index(quote)
    return Citation(cid, doc_id, "c", "", quote, start, start + len(quote))


class ScriptedPipeline:
    """Returns a prepared Answer per question (or raises), like a generator on rails."""

    def __init__(self, script: Mapping[str, Answer | Exception]) -> None:
        self.script = script
        self.models: list[str | None] = []

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        model: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        self.models.append(model)
        result = self.script[question]
        if isinstance(result, Exception):
            raise result
        return result


def _scripted_run(script: Mapping[str, Answer | Exception]) -> EvalRun:
    items = [BY_Q[q] for q in script]
    target = InProcessTarget(ScriptedPipeline(script), seeds_dir=SEEDS)
    return run_eval(items, target, model="m")


def test_scripted_pipeline_is_scored_end_to_end():
    q0 = (
        "at least 3,000 North Korean soldiers have been stationed in Russia, "
        "with numbers potentially reaching 12,000"
    )
    run = _scripted_run(
        {
            # Only one side of the conflict: 3,000 and 12,000 but not the 10,000 estimate.
            TROOPS_Q: Answer(f"{q0} [1].", False, citations=(_cite(D0, q0),)),
            PACT_Q: Answer(
                "Kim Jong Un and Vladimir Putin [1].",
                False,
                citations=(_cite(D2, "signed between Kim Jong Un and Vladimir Putin"),),
                timings_ms={"retrieve": 5.0, "total": 9.0},
            ),
            TANKS_Q: Answer("No.", True),
        }
    )
    m = run.metrics
    assert (m["answer.accuracy"].num, m["answer.accuracy"].den) == (2, 3)
    assert m["conflict.coverage"].value == 0.0
    assert (m["citation.validity"].num, m["citation.validity"].den) == (2, 2)
    assert m["citation.support"].value == 1.0
    assert m["abstention.recall"].value == 1.0
    assert run.latency["retrieve"]["p50"] == 5.0
    assert run.latency["wall"]["n"] == 3
    assert "retrieval.recall@5" in m
    assert m["retrieval.recall@5"].value is None  # no index given: no retrieval metrics


def test_invented_quote_and_pipeline_errors_are_recorded_not_raised():
    bad = Citation(1, D2, "c", "", "signed by Kim Jong Un alone", 10, 37)
    run = _scripted_run(
        {
            PACT_Q: Answer("Kim Jong Un [1].", False, citations=(bad,)),
            TANKS_Q: GenerationError("provider down"),
        }
    )
    m = run.metrics
    assert (m["citation.validity"].num, m["citation.validity"].den) == (0, 1)
    assert (m["errors"].num, m["errors"].den) == (1, 2)
    errored = next(r for r in run.runs if r.item.question == TANKS_Q)
    assert errored.score.error is not None
    assert "provider down" in errored.score.error
    assert not errored.score.correct


def test_model_is_passed_through_to_the_pipeline():
    pipe = ScriptedPipeline({TANKS_Q: Answer("No.", True)})
    run_eval([BY_Q[TANKS_Q]], InProcessTarget(pipe), model="gpt-x")
    assert pipe.models == ["gpt-x"]


# --- fakes shared with the HTTP tests: word-overlap index, pipeline quoting the best passage


def _fake_items() -> list[GoldItem]:
    return [g for g in GOLD if g.id in {"g001", "g005", "g007", "g025", "g027", "g048"}]


def _comparable(run: EvalRun) -> dict[str, Any]:
    return {k: (m.num, m.den, m.value, m.ci_low, m.ci_high) for k, m in run.metrics.items()}


def test_fake_pipeline_in_process_gets_retrieval_and_citation_metrics():
    from tests.fakes import fake_parts

    index, pipeline = fake_parts()
    run = run_eval(_fake_items(), InProcessTarget(pipeline, index=index), retrieval="bm25")
    m = run.metrics
    assert m["retrieval.recall@10"].den == 5  # the five answer items with evidence
    assert m["retrieval.mrr"].value is not None
    assert m["retrieval.mrr"].value > 0
    assert m["citation.validity"].value == 1.0  # the fake quotes real text at real offsets
    assert m["errors"].num == 0


@pytest.mark.integration
def test_url_mode_gives_the_same_numbers_as_in_process():
    from service.http.app import create_app
    from service.settings import Settings
    from tests.fakes import fake_parts, live_server

    index, pipeline = fake_parts()
    local = run_eval(_fake_items(), InProcessTarget(pipeline, index=index), retrieval="bm25")
    settings = Settings(index_dir=Path("/nonexistent"), rate_limit_per_minute=100_000)
    app = create_app(settings, index=index, pipeline=pipeline)
    with live_server(app) as url:
        target = HttpTarget(url, seeds_dir=None)
        try:
            remote = run_eval(_fake_items(), target, retrieval="bm25")
        finally:
            target.close()
    assert target.documents_from == "service"  # texts came from GET /documents/{id}
    assert _comparable(remote) == _comparable(local)


@pytest.mark.integration
def test_url_mode_sends_the_api_key_and_reports_http_errors():
    from service.http.app import create_app
    from service.settings import Settings
    from tests.fakes import fake_parts, live_server

    index, pipeline = fake_parts()
    settings = Settings(index_dir=Path("/nonexistent"), api_keys="k1")  # type: ignore[arg-type]
    app = create_app(settings, index=index, pipeline=pipeline)
    items = [BY_Q[PACT_Q]]
    with live_server(app) as url:
        good, bad = HttpTarget(url, api_key="k1"), HttpTarget(url, api_key="nope")
        ok_run, bad_run = run_eval(items, good), run_eval(items, bad)
        good.close()
        bad.close()
    assert ok_run.metrics["errors"].num == 0
    assert bad_run.metrics["errors"].num == 1
    assert "401" in (bad_run.runs[0].score.error or "")


# --- gate and baseline


def _run_with(values: dict[str, float]) -> EvalRun:
    from eval.aggregate import Metric

    metrics = {k: Metric(k, v * 10, 10, v, None, None, True) for k, v in values.items()}
    return EvalRun(runs=[], metrics=metrics, by_tag={}, latency={})


def test_gate_fails_only_beyond_tolerance():
    baseline = Baseline({"answer.accuracy": (0.80, 0.05), "citation.validity": (1.0, 0.02)}, {})
    rows = check(_run_with({"answer.accuracy": 0.76, "citation.validity": 1.0}), baseline)
    assert all(r.passed for r in rows)
    rows = check(_run_with({"answer.accuracy": 0.74, "citation.validity": 1.0}), baseline)
    assert [r.name for r in rows if not r.passed] == ["answer.accuracy"]
    rows = check(_run_with({"answer.accuracy": 0.9}), baseline)
    assert [r.name for r in rows if not r.passed] == ["citation.validity"]  # missing metric fails


def test_tolerance_is_one_item_with_a_floor():
    from eval.aggregate import Metric

    assert default_tolerance(Metric("x", 3, 4, 0.75, None, None, True)) == 0.25
    assert default_tolerance(Metric("x", 50, 60, 0.8, None, None, True)) == 0.02
    assert default_tolerance(Metric("x", 12, 13, 0.9, None, None, True)) == 0.08


def test_baseline_round_trip_and_bad_files(tmp_path: Path):
    run = _run_with({"answer.accuracy": 0.8, "citation.validity": 1.0})
    run.config.update({"n_items": 10, "model": "extractive", "retrieval": "hybrid"})
    path = tmp_path / "baseline.json"
    write_baseline(path, baseline_json(run, DEFAULT_GOLD_PATH, {}))
    loaded = load_baseline(path)
    assert loaded.metrics["answer.accuracy"] == (0.8, 0.1)
    assert loaded.metadata["model"] == "extractive"
    assert all(r.passed for r in check(run, loaded))
    assert not list(tmp_path.glob(".*.tmp"))
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(InvalidDocumentError, match="metrics"):
        load_baseline(path)
    with pytest.raises(InvalidDocumentError, match="update-baseline"):
        load_baseline(tmp_path / "missing.json")


def test_committed_baseline_gates_every_headline_metric():
    baseline = load_baseline(DEFAULT_BASELINE_PATH)
    assert set(GATED) <= set(baseline.metrics)
    for name, (value, tol) in baseline.metrics.items():
        assert 0.0 <= value <= 1.0, name
        assert 0.02 <= tol <= 0.5, name
    assert baseline.metadata["model"]
    raw = json.loads(DEFAULT_BASELINE_PATH.read_text(encoding="utf-8"))
    assert raw["metadata"]["n_items"] == len(GOLD)


# --- the real thing (model + index + pipeline)


@pytest.mark.slow
def test_real_pipeline_smoke_in_process(seed_index: Any):
    from service.settings import Settings
    from service.wiring import build_answerer

    pipeline = build_answerer(Settings(), seed_index)
    items = [BY_Q[TROOPS_Q], BY_Q[PACT_Q], BY_Q[TANKS_Q]]
    run = run_eval(items, InProcessTarget(pipeline, index=seed_index), warmup=True)
    m = run.metrics
    assert m["errors"].num == 0
    assert m["citation.validity"].value == 1.0
    assert m["retrieval.recall@10"].value is not None
    assert m["retrieval.recall@10"].value > 0.5
    assert run.latency["total"]["n"] == 3


@pytest.mark.slow
@pytest.mark.integration
def test_real_app_over_http_matches_in_process(seed_index: Any):
    from service.http.app import create_app
    from service.settings import Settings
    from service.wiring import build_answerer
    from tests.fakes import live_server

    settings = Settings(rate_limit_per_minute=100_000)
    pipeline = build_answerer(settings, seed_index)
    items = [BY_Q[q] for q in (TROOPS_Q, PACT_Q, TANKS_Q)]
    local = run_eval(items, InProcessTarget(pipeline, index=seed_index))
    with live_server(create_app(settings, index=seed_index, pipeline=pipeline)) as url:
        target = HttpTarget(url)
        remote = run_eval(items, target)
        target.close()
    assert _comparable(remote) == _comparable(local)


@pytest.mark.slow
def test_cli_writes_report_json_markdown_and_png(tmp_path: Path):
    from service.cli import main

    out = tmp_path / "report"
    assert main(["eval", "--limit", "3", "--out", str(out), "--retrieval", "bm25"]) == 0
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["config"]["n_items"] == 3
    assert "answer.accuracy" in data["metrics"]
    assert "| answer.accuracy |" in (out / "report.md").read_text(encoding="utf-8")
    for png in ("accuracy_by_tag.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gate_command_output_names_the_dropped_metric(capsys: pytest.CaptureFixture[str]):
    from rich.console import Console

    from eval.cli import _gate

    baseline = Baseline({"answer.accuracy": (0.9, 0.02), "citation.validity": (1.0, 0.02)}, {})
    run = _run_with({"answer.accuracy": 0.8, "citation.validity": 1.0})
    assert _gate(run, baseline, DEFAULT_GOLD_PATH, Console(), Console(stderr=True)) == 1
    err = capsys.readouterr().err
    assert "gate FAILED: answer.accuracy 0.8000 < baseline 0.9000" in err
    assert "citation.validity" not in err
    ok = _run_with({"answer.accuracy": 0.89, "citation.validity": 1.0})
    assert _gate(ok, baseline, DEFAULT_GOLD_PATH, Console(), Console(stderr=True)) == 0


def test_a_crashing_pipeline_is_recorded_per_item():
    run = _scripted_run({TANKS_Q: RuntimeError("bug"), PACT_Q: Answer("No.", True)})
    assert (run.metrics["errors"].num, run.metrics["errors"].den) == (1, 2)
    assert "RuntimeError: bug" in (run.runs[0].score.error or "")


def test_http_target_retries_429_and_falls_back_to_seed_texts():
    import httpx

    calls: list[str] = []
    quote = "signed between Kim Jong Un and Vladimir Putin"
    cite = _cite(D2, quote)
    body = Answer("Kim Jong Un and Vladimir Putin [1].", False, citations=(cite,)).to_dict()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.url.path == "/ask":
            if calls.count("POST /ask") == 1:
                return httpx.Response(429, headers={"Retry-After": "0"}, json={})
            return httpx.Response(200, json=body)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    transport = httpx.MockTransport(handler)
    target = HttpTarget("http://eval.test", seeds_dir=SEEDS, transport=transport)
    run = run_eval([BY_Q[PACT_Q], BY_Q[PACT_Q]], target)
    assert calls.count("POST /ask") == 3  # one 429, then two answers
    assert calls.count("POST /search") == 1  # stops asking once /search is unavailable
    assert target.documents_from == "seeds (fallback)"
    assert run.metrics["citation.validity"].value == 1.0
    assert run.metrics["answer.accuracy"].value == 1.0
    assert run.metrics["retrieval.mrr"].value is None


def test_report_files_with_compare(tmp_path: Path):
    from eval.report import compare_table, write_outputs

    run = _scripted_run({PACT_Q: Answer("Only Kim.", False), TANKS_Q: Answer("-", True)})
    paths = write_outputs(run, tmp_path, compare={"bm25": run, "hybrid": run})
    names = sorted(p.name for p in paths)
    assert names == sorted(
        ["report.json", "report.md", "accuracy_by_tag.png", "latency.png", "compare.png"]
    )
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert set(data["compare"]) == {"bm25", "hybrid"}
    assert data["metrics"]["answer.accuracy"]["display"] == "1/2, 50.0% [0-100]"
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Retrieval modes" in md
    assert "Items judged wrong (1)" in md
    assert (tmp_path / "compare.png").stat().st_mode & 0o044  # readable by others
    assert compare_table({"bm25": run, "hybrid": run}).row_count > 10


@pytest.mark.integration
def test_cli_url_mode_with_compare_against_a_live_app(tmp_path: Path):
    from service.cli import main
    from service.http.app import create_app
    from service.settings import Settings
    from tests.fakes import fake_parts, live_server

    index, pipeline = fake_parts()
    settings = Settings(index_dir=Path("/nonexistent"), rate_limit_per_minute=100_000)
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(i.to_json()) for i in _fake_items()), encoding="utf-8")
    with live_server(create_app(settings, index=index, pipeline=pipeline)) as url:
        argv = ["eval", "--url", url, "--gold", str(gold), "--compare", "--out", str(tmp_path)]
        assert main(argv) == 0
        assert main(["eval", "--url", url, "--model", "x"]) == 2  # the service picks its model
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["config"]["target"] == f"url {url}"
    assert set(data["compare"]) == {"dense", "bm25", "hybrid"}
    assert pipeline.calls == len(_fake_items())  # compare reuses the answers, asks once each
