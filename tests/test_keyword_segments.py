"""The segmented keyword store after any adds and deletes scores exactly as a fresh build."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.stores import bm25_store
from index.stores.bm25_store import Bm25Store

# Few words, so documents share terms and document frequencies move with every write.
WORDS = ("troops", "pact", "signed", "kursk", "border", "the", "of", "soldiers", "missile", "2024")
QUERIES = (
    "troops pact",
    "the of",
    "kursk kursk border",
    "soldiers signed the pact in 2024",
    "missile",
    "unknown words only",
)

texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join)
# One step: a batch of new texts and which live rows to delete (as fractions of the live list).
steps = st.lists(
    st.tuples(
        st.lists(texts, min_size=0, max_size=5),
        st.lists(st.floats(min_value=0, max_value=0.999), max_size=3),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(autouse=True)
def _tiny_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    # Merge often so that tiers, purges and merges all happen within a dozen writes.
    monkeypatch.setattr(bm25_store, "MERGE_FACTOR", 2)
    monkeypatch.setattr(bm25_store, "MIN_SEGMENT", 1)
    monkeypatch.setattr(bm25_store, "MAX_VOCAB_FILES", 3)


def _assert_same(store: Bm25Store, live: dict[int, str]) -> None:
    rows = sorted(live)
    fresh = Bm25Store.build(rows, [live[r] for r in rows])
    assert len(store) == len(fresh) == len(rows)
    for query in QUERIES:
        for k in (1, 3, 50):
            assert store.search(query, k) == fresh.search(query, k), (query, k)
        allowed = rows[::2]
        assert store.search(query, 5, allowed) == fresh.search(query, 5, allowed)
    for word in WORDS:
        assert store.word_idf(word) == fresh.word_idf(word)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=st.lists(texts, max_size=8), history=steps)
def test_adds_and_deletes_score_as_a_fresh_build(
    initial: list[str], history: list[tuple[list[str], list[float]]]
) -> None:
    live = dict(enumerate(initial, start=1))
    store = Bm25Store.build(list(live), list(live.values()))
    next_row = len(initial) + 1
    with tempfile.TemporaryDirectory() as tmp:
        for step, (added, deletes) in enumerate(history):
            order = sorted(live)
            gone = {order[int(f * len(order))] for f in deletes} if order else set()
            new_rows = list(range(next_row, next_row + len(added)))
            next_row += len(added)
            before = store
            store = store.updated(new_rows, added, gone)
            for row in gone:
                del live[row]
            live.update(zip(new_rows, added, strict=True))
            _assert_same(store, live)
            assert before is not store
            # Every generation is saved into its own folder, linking what the last one wrote,
            # and what is loaded back scores the same.
            folder = Path(tmp) / f"gen-{step}"
            store.save(folder)
            store = Bm25Store.load(folder, mmap=step % 2 == 0)
            _assert_same(store, live)


def test_old_store_is_untouched_by_an_update() -> None:
    store = Bm25Store.build([1, 2], ["troops pact", "kursk border"])
    before = store.search("troops kursk", 5)
    store.updated([3], ["troops troops"], [2])
    assert store.search("troops kursk", 5) == before


def test_segments_merge_and_unchanged_segments_are_linked(tmp_path: Path) -> None:
    store = Bm25Store.build([1], ["troops"])
    for row in range(2, 6):
        store = store.updated([row], [f"pact {row}"], [])
    assert store.n_segments < 5  # MERGE_FACTOR 2: pairs of one tier merge
    store.save(tmp_path / "a")
    store = store.updated([9], ["kursk"], [])
    store.save(tmp_path / "b")
    shared = [
        p.name
        for p in (tmp_path / "b" / "bm25").glob("seg-*.arrays")
        if (tmp_path / "a" / "bm25" / p.name).exists()
    ]
    assert shared
    assert all(
        (tmp_path / "a" / "bm25" / name).stat().st_ino
        == (tmp_path / "b" / "bm25" / name).stat().st_ino
        for name in shared
    )


def test_a_bm25s_store_is_reported_stale(tmp_path: Path) -> None:
    target = tmp_path / "bm25"
    target.mkdir()
    (target / "citeqa_bm25.json").write_text(
        '{"stemming": true, "k1": 1.2, "b": 0.75, "tokenizer": "words+snowball-2"}\n'
    )
    with pytest.raises(bm25_store.StaleKeywordStoreError):
        Bm25Store.load(tmp_path)


def test_force_merge_keeps_scores() -> None:
    store = Bm25Store.build([1, 2], ["troops pact", "kursk border"])
    store = store.updated([3, 4], ["troops troops", "pact the"], [1])
    merged = store.merged()
    assert merged.n_segments == 1
    for query in QUERIES:
        assert merged.search(query, 5) == store.search(query, 5)
