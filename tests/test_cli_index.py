"""``citeqa ingest`` / ``citeqa search`` through the real dispatcher (hashing embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.embedders import factory as embedding
from service.cli import main
from tests.fakes import HashingEmbedder


@pytest.fixture(autouse=True)
def _fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "load_default_embedder", lambda kind="torch": HashingEmbedder())


def test_ingest_then_search_json(
    tmp_path: Path, seeds_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = tmp_path / "idx"
    assert main(["ingest", str(seeds_dir), "--index-dir", str(idx)]) == 0
    out = capsys.readouterr().out
    assert "documents" in out
    assert "chunks" in out
    assert "tokens/s" in out
    assert (
        main(["search", "mutual defense pact", "-k", "3", "--index-dir", str(idx), "--json"]) == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    for hit in hits:
        assert {"doc_id", "chunk_id", "score", "start", "end", "text"} <= set(hit)
        text = (seeds_dir / f"{hit['doc_id']}.txt").read_text(encoding="utf-8")
        assert text[hit["start"] : hit["end"]] == hit["text"]
    assert [h["rank"] for h in hits] == [1, 2, 3]


def test_search_modes_and_text_output(
    tmp_path: Path, seeds_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = tmp_path / "idx"
    main(["ingest", str(seeds_dir), "--index-dir", str(idx)])
    capsys.readouterr()
    for mode in ("dense", "bm25", "hybrid"):
        assert main(["search", "Kursk", "--mode", mode, "--index-dir", str(idx)]) == 0
        out = capsys.readouterr().out
        assert f"({mode}," in out
        assert "1." in out


def test_skipped_files_exit_1_and_good_files_ingested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_text("North Korean troops arrived in Kursk.", encoding="utf-8")
    (src / "empty.txt").write_text("", encoding="utf-8")
    (src / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    idx = tmp_path / "idx"
    assert main(["ingest", str(src), "--index-dir", str(idx)]) == 1
    out = capsys.readouterr().out
    assert "empty.txt" in out
    assert "blob.txt" in out
    assert "skipped files" in out
    assert main(["search", "troops", "--index-dir", str(idx), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["doc_id"] for h in hits] == ["good"]


def test_index_dir_from_environment(
    tmp_path: Path,
    seeds_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(tmp_path / "envidx"))
    assert main(["ingest", str(seeds_dir / "000_b9f469ab44661bfc.txt")]) == 0
    assert (tmp_path / "envidx" / "manifest.json").is_file()
    capsys.readouterr()
    assert main(["search", "Kursk", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_search_without_index_says_how_to_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "anything", "--index-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "citeqa ingest seeds/" in err


def test_mismatched_index_exit_2_and_rebuild_fixes(
    tmp_path: Path,
    seeds_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    idx = tmp_path / "idx"
    main(["ingest", str(seeds_dir), "--index-dir", str(idx)])
    monkeypatch.setattr(
        embedding, "load_default_embedder", lambda kind="torch": HashingEmbedder(dim=32)
    )
    assert main(["search", "Kursk", "--index-dir", str(idx)]) == 2
    assert "--rebuild" in capsys.readouterr().err
    assert main(["ingest", str(seeds_dir), "--index-dir", str(idx), "--rebuild"]) == 0
    assert main(["search", "Kursk", "--index-dir", str(idx)]) == 0


def test_bad_top_k_is_an_error(
    tmp_path: Path, seeds_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = tmp_path / "idx"
    main(["ingest", str(seeds_dir), "--index-dir", str(idx)])
    assert main(["search", "Kursk", "-k", "0", "--index-dir", str(idx)]) == 2
