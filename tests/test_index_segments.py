"""Incremental writes at the index level: an old-format index loads and answers as it did, a
write links what it keeps, and after adds and deletes searches equal a fresh build."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from index.corpus import CorpusIndex
from index.ingestion.dedupe import find_near_duplicates
from index.models import Chunk, Document, make_chunk_id
from index.storage.manifest import read_manifest
from tests.fakes import HashingEmbedder

DATA = Path(__file__).parent / "data"
# Written by the code before segments (commit 0eb5486), with the queries' results it gave then.
OLD_INDEX = DATA / "index-format1"
OLD_RESULTS = json.loads((DATA / "index-format1-expected.json").read_text(encoding="utf-8"))
WORDS = (
    "troops",
    "pact",
    "border",
    "soldiers",
    "missile",
    "kursk",
    "treaty",
    "signed",
    "deployed",
    "region",
    "drone",
    "winter",
    "river",
)


@pytest.fixture
def emb() -> HashingEmbedder:
    return HashingEmbedder(dim=64)


def _generation(index: CorpusIndex) -> Path:
    return index.path / read_manifest(index.path).generation


def _ids(index: CorpusIndex, query: str, mode: str) -> list[str]:
    return [h.chunk.id for h in index.search(query, top_k=5, mode=mode)]  # type: ignore[arg-type]


def test_an_index_written_before_segments_loads_and_answers_as_before(
    tmp_path: Path, emb: HashingEmbedder
) -> None:
    path = tmp_path / "old"
    shutil.copytree(OLD_INDEX, path)
    index = CorpusIndex.open(path, emb)
    assert index.n_documents == 3
    for query, by_mode in OLD_RESULTS.items():
        for mode, expected in by_mode.items():
            assert _ids(index, query, mode) == expected, (query, mode)
    # A write on top keeps the old files (linked, not rewritten) and stores the new layout.
    old_docs = (_generation(index) / "documents.jsonl").stat().st_ino
    index.add_documents([Document(id="drone", text="A drone struck the river port.", title="D")])
    assert (_generation(index) / "documents.jsonl").stat().st_ino == old_docs
    index.delete_document("nato")
    new_gen = _generation(index)
    assert (new_gen / "documents.jsonl").stat().st_ino == old_docs
    assert json.loads((new_gen / "bm25" / "citeqa_bm25.json").read_text())["format"]
    reopened = CorpusIndex.open(path, emb)
    assert sorted(d.id for d in reopened.list_documents()) == ["drone", "kursk", "pact"]
    assert _ids(reopened, "drone river", "bm25")[0] == _ids(index, "drone river", "bm25")[0]
    query = "Who signed the mutual defense pact?"
    assert _ids(reopened, query, "bm25")[0] == OLD_RESULTS[query]["bm25"][0]


def test_a_write_links_the_unchanged_files(tmp_path: Path, emb: HashingEmbedder) -> None:
    index = CorpusIndex.create(tmp_path / "i", emb)
    index.add_documents(
        [Document(id=f"d{i}", text=f"troops {i} border", title="") for i in range(20)]
    )
    before = _generation(index)
    index.add_documents([Document(id="new", text="missile winter", title="")])
    after = _generation(index)
    assert (after / "vectors.faiss").stat().st_ino == (before / "vectors.faiss").stat().st_ino
    linked = [
        p for p in before.rglob("*") if p.is_file() and (after / p.relative_to(before)).exists()
    ]
    assert any(p.name.startswith("documents-") for p in linked)
    assert any(p.parent.name == "bm25" and p.name.startswith("seg-") for p in linked)
    assert all(
        p.stat().st_ino == (after / p.relative_to(before)).stat().st_ino
        for p in linked
        if p.name.startswith(("documents-", "chunks-", "seg-", "vocab-"))
    )


def _keyword_ranking(index: CorpusIndex, query: str) -> list[tuple[float, str]]:
    hits = index.search(query, top_k=100, mode="bm25")
    return sorted((-h.score, h.chunk.id) for h in hits)


def _dense_scores(index: CorpusIndex, query: str) -> list[float]:
    return [round(h.score, 5) for h in index.search(query, top_k=10, mode="dense")]


def _random_doc(rng: random.Random, doc_id: str) -> Document:
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(3, 12))) for _ in range(rng.randint(1, 4))]
    return Document(id=doc_id, text="\n\n".join(lines), title="")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_after_adds_and_deletes_searches_equal_a_fresh_build(
    tmp_path: Path, emb: HashingEmbedder, seed: int
) -> None:
    rng = random.Random(seed)
    index = CorpusIndex.create(tmp_path / "inc", emb)
    live: dict[str, Document] = {}
    for step in range(25):
        if live and rng.random() < 0.35:
            doc_id = rng.choice(sorted(live))
            index.delete_document(doc_id)
            del live[doc_id]
        else:
            # New ids, and now and then a replacement of a live one.
            doc_id = rng.choice(sorted(live)) if live and rng.random() < 0.2 else f"d{step}"
            live[doc_id] = _random_doc(rng, doc_id)
            index.add_documents([live[doc_id]])
    fresh = CorpusIndex.create(tmp_path / "fresh", emb)
    fresh.add_documents([live[d] for d in sorted(live)])
    reopened = CorpusIndex.open(index.path, emb)
    for query in (" ".join(rng.choices(WORDS, k=3)) for _ in range(10)):
        expected = _keyword_ranking(fresh, query)
        for candidate in (index, reopened):
            # Same scores, bit for bit; rows of equal score may come in either order, as the
            # fresh build numbers its rows differently.
            assert _keyword_ranking(candidate, query) == expected, query
            # Dense search is exact here; equal vectors may tie in either order.
            assert _dense_scores(candidate, query) == _dense_scores(fresh, query)
    assert reopened.n_chunks == fresh.n_chunks


def test_a_near_copy_among_many_chunks_is_still_found(tmp_path: Path, emb: HashingEmbedder) -> None:
    rng = random.Random(7)
    index = CorpusIndex.create(tmp_path / "i", emb)
    words = rng.choices(WORDS, k=40)
    docs = [_random_doc(rng, f"d{i}") for i in range(300)]
    docs.insert(150, Document(id="original", text=" ".join(words), title=""))
    index.add_documents(docs)
    near = " ".join([*words[:-1], "changed"])  # 37 of 39 shingles shared: Jaccard 0.95
    assert find_near_duplicates([index.chunks_for("original")[0], _chunk("copy", near)])
    index.add_documents([Document(id="copy", text=near, title="")])
    assert index.chunks_for("copy") == []
    index.add_documents([Document(id="other", text="winter drone river treaty", title="")])
    assert len(index.chunks_for("other")) == 1


def _chunk(doc_id: str, text: str) -> Chunk:
    return Chunk(
        id=make_chunk_id(doc_id, 0, len(text)), doc_id=doc_id, start=0, end=len(text), text=text
    )
