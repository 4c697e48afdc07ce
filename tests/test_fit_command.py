"""``citeqa fit`` end to end on a tiny synthetic SQuAD-format set (no model: a hashing
embedder): cache built then reused, artifact written, loadable, round-tripping, with metadata."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from eval.fit import cache as fit_cache
from eval.fit.cache import load_cache
from eval.fit.command import register
from eval.fit.training import Params
from index.errors import InvalidDocumentError
from service.answering.generators.extractive.answer import load_model
from service.answering.generators.extractive.model import FittedModel
from tests.fakes import HashingEmbedder
from tests.test_eval_squad_data import make_squad_dataset


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["fit", *argv])


@pytest.fixture
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> HashingEmbedder:
    from service import wiring

    embedder = HashingEmbedder(dim=64)
    monkeypatch.setattr(wiring, "load_embedder", lambda settings: embedder)
    return embedder


def test_fit_writes_a_loadable_artifact_with_its_metadata(
    tmp_path: Path, fake_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_squad_dataset(tmp_path / "squad")
    out, caches = tmp_path / "model.json", tmp_path / "cache"
    argv = (str(data), "--out", str(out), "--cache-dir", str(caches), "--max-false-refusal", "0.1")
    args = _args(*argv)
    assert args.func(args) == 0

    model = load_model(out)  # as the product loads it: the features match the code
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert FittedModel.from_json(raw).to_json() == raw  # round trip
    meta = model.meta
    assert meta["command"].startswith("citeqa fit")
    assert meta["params"] == asdict(Params(max_false_refusal=0.1))
    assert meta["fitted_on"] == ["art_alpha", "art_beta", "art_gamma"]
    assert meta["n_questions"] == 24
    assert set(meta["data"]) == {"squad", "seeds"}
    for name, d in meta["data"].items():
        cache = load_cache(caches / Path(d["cache"]).name)
        assert cache.content_sha256 == d["content_sha256"], name
        assert d["embedder"]["model"] == fake_embedder.model_name
        assert d["k"] == 10
    assert set(meta["oof"]) == {"correct_cited", "false_refusal", "unanswerable_refused"}
    assert meta["oof"]["false_refusal"] <= 0.1
    squad = meta["loao"]["squad"]
    assert (squad["n_answerable"], squad["n_unanswerable"]) == (15, 9)
    assert set(squad["per_article"]) == {"art_alpha", "art_beta", "art_gamma"}
    assert meta["loao"]["seeds"]["n_answerable"] + meta["loao"]["seeds"]["n_unanswerable"] == 60
    assert meta["vector_misses"] == 0
    assert meta["fit_seconds"] >= 0
    assert 0.0 <= model.threshold <= 1.0

    # A second run reuses both caches (building one would fail here).
    def no_build(*a: Any, **k: Any) -> Any:
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(fit_cache, "build_cache", no_build)
    args = _args(*argv, "--no-loao", "--with-gold")
    assert args.func(args) == 0
    again = load_model(out).meta
    assert again["loao"] == "held-out figures skipped (--no-loao)"
    assert again["n_questions"] == 84
    assert "seeds" in again["fitted_on"]
    assert again["data"] == meta["data"]


def test_a_tampered_cache_is_refused(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    from eval.fit.sources import SquadSource
    from service.settings import Settings

    source = SquadSource(make_squad_dataset(tmp_path / "squad"))
    cache, built = fit_cache.cached(
        source, fake_embedder, k=5, settings=Settings(), kind="fake",
        cache_dir=tmp_path / "c", progress=lambda *a: None,
    )  # fmt: skip
    assert built
    assert len(cache.data["items"]) == 24
    path = cache.path / "cache.json"
    path.write_text(path.read_text(encoding="utf-8").replace("Brenmouth", "Brenmouht"))
    with pytest.raises(InvalidDocumentError, match="content hash mismatch"):
        load_cache(cache.path)


def test_bad_passages_values_are_refused() -> None:
    from eval.fit.command import _passages

    assert _passages("served", 10) is None
    assert _passages("5", 10) == 5
    with pytest.raises(SystemExit, match="--passages"):
        _passages("11", 10)
