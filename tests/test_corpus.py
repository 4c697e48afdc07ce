"""CorpusIndex with the hashing embedder: persistence, upsert/delete, filters, mismatch, threads."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from index.corpus import CorpusIndex, build_index
from index.errors import (
    DocumentNotFoundError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidQueryError,
)
from index.models import Document, hit_to_dict
from index.storage.manifest import FORMAT_VERSION, read_manifest
from tests.fakes import HashingEmbedder


def _doc(doc_id: str, text: str, title: str = "") -> Document:
    return Document(id=doc_id, text=text, title=title or f"Title of {doc_id}")


PACT = _doc("pact", "Kim Jong Un and Vladimir Putin signed a mutual defense pact in June 2024.")
KURSK = _doc("kursk", "Thousands of North Korean soldiers were sent to the Kursk region of Russia.")
NOFLY = _doc(
    "nofly", "Ukraine asked NATO to establish a no-fly zone, which Western powers declined."
)


@pytest.fixture
def emb() -> HashingEmbedder:
    return HashingEmbedder(dim=64)


@pytest.fixture
def index(tmp_path: Path, emb: HashingEmbedder) -> CorpusIndex:
    idx = CorpusIndex.create(tmp_path / "idx", emb)
    idx.add_documents([PACT, KURSK, NOFLY])
    return idx


def test_create_writes_manifest(tmp_path: Path, emb: HashingEmbedder) -> None:
    idx = CorpusIndex.create(tmp_path / "i", emb)
    data = json.loads((tmp_path / "i" / "manifest.json").read_text())
    for key in (
        "format_version",
        "model_name",
        "weights_sha256",
        "dim",
        "n_documents",
        "n_chunks",
        "created_at",
        "updated_at",
        "vector_index",
        "version",
    ):
        assert key in data
    assert data["format_version"] == FORMAT_VERSION
    assert data["model_name"] == emb.model_name
    assert data["dim"] == 64
    assert idx.n_documents == 0
    assert idx.search("anything") == []


def test_search_finds_and_reopens(index: CorpusIndex, emb: HashingEmbedder) -> None:
    hits = index.search("who signed the defense pact", top_k=2)
    assert hits[0].chunk.doc_id == "pact"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert len({h.chunk.id for h in hits}) == len(hits)
    doc = index.get_document("pact")
    assert doc.text[hits[0].chunk.start : hits[0].chunk.end] == hits[0].chunk.text
    reopened = CorpusIndex.open(index.path, emb)
    assert reopened.version == index.version
    assert reopened.n_documents == 3
    assert reopened.n_chunks == index.n_chunks
    assert reopened.search("who signed the defense pact", 1)[0].chunk.id == hits[0].chunk.id
    assert reopened.manifest.n_documents == 3


def test_hit_to_dict_shape(index: CorpusIndex) -> None:
    d = hit_to_dict(index.search("Kursk soldiers", 1)[0])
    assert set(d) == {"doc_id", "chunk_id", "score", "start", "end", "text", "title", "rank"}
    assert d["doc_id"] == "kursk"
    assert d["rank"] == 1
    json.dumps(d)


def test_upsert_replaces_chunks_without_rebuild(index: CorpusIndex, emb: HashingEmbedder) -> None:
    version = index.version
    old_chunks = {c.id for c in index.chunks_for("pact")}
    calls = emb.calls
    new = _doc(
        "pact", "The treaty between Moscow and Pyongyang includes mutual military assistance."
    )
    report = index.add_documents([new])
    assert report.documents == 1
    assert report.chunks == len(index.chunks_for("pact"))
    assert emb.calls == calls + 1  # only the new document was embedded
    assert index.version != version
    assert not old_chunks & {c.id for c in index.chunks_for("pact")}
    assert index.get_document("pact").text == new.text
    assert index.n_documents == 3
    for hit in index.search("Kim Jong Un Putin signed", 10):
        assert hit.chunk.id not in old_chunks
    reopened = CorpusIndex.open(index.path, emb)
    assert reopened.get_document("pact").text == new.text


def test_unchanged_document_is_not_reembedded(index: CorpusIndex, emb: HashingEmbedder) -> None:
    version, calls = index.version, emb.calls
    report = index.add_documents([PACT])
    assert report.unchanged == 1
    assert report.chunks == 0
    assert emb.calls == calls
    assert index.version == version


def test_delete_document(index: CorpusIndex, emb: HashingEmbedder) -> None:
    gone = {c.id for c in index.chunks_for("kursk")}
    index.delete_document("kursk")
    assert index.n_documents == 2
    with pytest.raises(DocumentNotFoundError):
        index.get_document("kursk")
    with pytest.raises(DocumentNotFoundError):
        index.delete_document("kursk")
    assert all(h.chunk.id not in gone for h in index.search("Kursk soldiers", 10))
    reopened = CorpusIndex.open(index.path, emb)
    assert reopened.n_documents == 2
    assert all(h.chunk.doc_id != "kursk" for h in reopened.search("Kursk soldiers", 10))


def test_filters(index: CorpusIndex) -> None:
    hits = index.search("soldiers pact zone", 10, filters={"doc_id": "nofly"})
    assert hits
    assert {h.chunk.doc_id for h in hits} == {"nofly"}
    hits = index.search("soldiers", 10, filters={"doc_id": ["pact", "kursk"]}, mode="dense")
    assert {h.chunk.doc_id for h in hits} <= {"pact", "kursk"}
    hits = index.search("soldiers", 10, filters={"title_contains": "of KURSK"})
    assert {h.chunk.doc_id for h in hits} == {"kursk"}
    assert index.search("soldiers", 5, filters={"doc_id": "nope"}) == []
    with pytest.raises(InvalidQueryError, match="unknown filter"):
        index.search("soldiers", 5, filters={"author": "x"})


@pytest.mark.parametrize("bad", ["", "   "])
def test_invalid_queries(index: CorpusIndex, bad: str) -> None:
    with pytest.raises(InvalidQueryError):
        index.search(bad)


def test_invalid_top_k_and_mode(index: CorpusIndex) -> None:
    with pytest.raises(InvalidQueryError):
        index.search("x", top_k=0)
    with pytest.raises(InvalidQueryError):
        index.search("x", mode="sparse")  # type: ignore[arg-type]


def test_open_missing_index(tmp_path: Path, emb: HashingEmbedder) -> None:
    with pytest.raises(IndexNotFoundError, match="citeqa ingest"):
        CorpusIndex.open(tmp_path / "nothing", emb)


@pytest.mark.parametrize(
    "other",
    [HashingEmbedder(dim=32), HashingEmbedder(dim=64, model_name="other/model")],
)
def test_mismatched_embedder_refused(index: CorpusIndex, other: HashingEmbedder) -> None:
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        CorpusIndex.open(index.path, other)


def test_other_format_version_refused(index: CorpusIndex, emb: HashingEmbedder) -> None:
    path = index.path / "manifest.json"
    data = json.loads(path.read_text())
    data["format_version"] = 999
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="format version 999"):
        CorpusIndex.open(index.path, emb)


def test_other_weights_hash_refused(index: CorpusIndex, emb: HashingEmbedder) -> None:
    path = index.path / "manifest.json"
    data = json.loads(path.read_text())
    data["weights_sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="weights"):
        CorpusIndex.open(index.path, emb)


def test_old_generations_are_cleaned(index: CorpusIndex) -> None:
    for i in range(4):
        index.add_documents([_doc(f"d{i}", f"Document number {i} about artillery shells.")])
    gens = sorted(p.name for p in index.path.iterdir() if p.name.startswith("gen-"))
    assert len(gens) <= 2
    assert read_manifest(index.path).generation in gens


def test_near_duplicates_across_documents_collapse(tmp_path: Path, emb: HashingEmbedder) -> None:
    text = "Kim Jong Un and Vladimir Putin signed a mutual defense pact in June 2024 in Pyongyang."
    idx = CorpusIndex.create(tmp_path / "i", emb)
    idx.add_documents([_doc("a", text)])
    idx.add_documents([_doc("b", text)])
    hits = idx.search("mutual defense pact", 5)
    assert len(hits) == 1
    assert idx.chunks_for("b") == []


def test_build_index_and_rebuild(tmp_path: Path, emb: HashingEmbedder, seeds_dir: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "note.txt").write_text("A note about artillery shells and drones.", encoding="utf-8")
    (extra / "empty.txt").write_text("", encoding="utf-8")
    report = build_index([seeds_dir, extra], tmp_path / "idx", emb)
    assert report.documents == 6
    assert report.chunks > 5
    assert report.tokens > 0
    assert [s.path for s in report.skipped] == [str(extra / "empty.txt")]
    report = build_index([extra / "note.txt"], tmp_path / "idx", emb, rebuild=True)
    idx = CorpusIndex.open(tmp_path / "idx", emb)
    assert [d.id for d in idx.list_documents()] == ["note"]


def test_concurrent_searches_during_writes(index: CorpusIndex) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                hits = index.search("Kursk soldiers", 5)
                ids = {h.chunk.doc_id for h in hits}
                assert "kursk" in ids
                for h in hits:
                    doc = index.get_document(h.chunk.doc_id)
                    assert doc.text[h.chunk.start : h.chunk.end] == h.chunk.text
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(6):
        index.add_documents([_doc("pact", f"Version {i} of the pact text with defense clauses.")])
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_other_process_commit_is_adopted_before_writing(
    index: CorpusIndex, emb: HashingEmbedder
) -> None:
    other = CorpusIndex.open(index.path, emb)
    other.add_documents([_doc("extra", "Artillery shells were traded for diplomatic favours.")])
    index.add_documents([_doc("more", "Drones were used along the front line.")])
    final = CorpusIndex.open(index.path, emb)
    assert {d.id for d in final.list_documents()} >= {"extra", "more", "pact"}
    fresh = CorpusIndex.open(index.path, emb)
    assert fresh.reload_if_changed() is False


def test_copied_index_folder_opens(
    index: CorpusIndex, tmp_path: Path, emb: HashingEmbedder
) -> None:
    dst = tmp_path / "copy"
    shutil.copytree(index.path, dst)
    assert CorpusIndex.open(dst, emb).n_documents == 3


def test_ingest_of_only_bad_files_still_creates_an_empty_index(
    tmp_path: Path, emb: HashingEmbedder
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "empty.txt").write_text("", encoding="utf-8")
    report = build_index([src], tmp_path / "idx", emb)
    assert len(report.skipped) == 1
    idx = CorpusIndex.open(tmp_path / "idx", emb)
    assert idx.n_documents == 0
    assert idx.search("anything") == []
