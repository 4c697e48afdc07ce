"""Bm25Store: tokenisation, ranking, filters, persistence with mmap."""

from __future__ import annotations

from pathlib import Path

from index.stores.bm25_store import Bm25Store, Bm25Tokenizer

TEXTS = [
    "North Korean troops were deployed to the Kursk region.",
    "Kim Jong Un and Vladimir Putin signed a mutual defense pact in June.",
    "Ukraine asked NATO to establish a no-fly zone over its cities.",
    "The soldiers are new recruits gaining combat experience.",
]


def test_tokenizer_stems_and_drops_one_letter_words() -> None:
    tok = Bm25Tokenizer()
    assert tok("The soldiers signed a pact in 2024") == [
        "the",
        "soldier",
        "sign",
        "pact",
        "in",
        "2024",
    ]
    assert tok("ratifying") == tok("ratify")
    assert tok("countries") == tok("country")
    assert Bm25Tokenizer(stemming=False)("Soldiers") == ["soldiers"]


def test_function_words_weigh_little_without_a_stop_list() -> None:
    store = Bm25Store.build([10, 11, 12, 13], TEXTS)
    assert store.word_idf("the") < store.word_idf("pact")


def test_search_ranks_matching_row_first() -> None:
    store = Bm25Store.build([10, 11, 12, 13], TEXTS)
    hits = store.search("Who signed the defence pact?", 3)
    assert hits[0][0] == 11
    assert all(score > 0 for _, score in hits)
    assert store.search("soldier recruit", 1)[0][0] == 13


def test_no_match_returns_nothing_and_function_words_score_low() -> None:
    store = Bm25Store.build([1, 2, 3, 4], TEXTS)
    assert store.search("zebra", 5) == []
    function_words = store.search("the of and", 5)
    content = store.search("Kursk", 5)
    assert function_words[0][1] < content[0][1]
    assert Bm25Store().search("troops", 5) == []


def test_allowed_rows_filter() -> None:
    store = Bm25Store.build([1, 2, 3, 4], TEXTS)
    assert store.search("troops pact", 5, allowed=[2]) == [(2, store.search("pact", 1)[0][1])]
    assert store.search("troops", 5, allowed=[3, 4]) == []


def test_save_load_mmap_round_trip(tmp_path: Path) -> None:
    store = Bm25Store.build([5, 6, 7, 8], TEXTS)
    store.save(tmp_path)
    loaded = Bm25Store.load(tmp_path, mmap=True)
    assert len(loaded) == 4
    assert loaded.search("no-fly zone NATO", 2) == store.search("no-fly zone NATO", 2)
    empty = Bm25Store.build([], [])
    empty.save(tmp_path / "e")
    assert Bm25Store.load(tmp_path / "e").search("troops", 3) == []


def test_update_matches_fresh_build() -> None:
    first = Bm25Store.build([1, 2, 3], TEXTS[:3])
    again = first.updated([4], TEXTS[3:], [1])
    fresh = Bm25Store.build([2, 3, 4], TEXTS[1:])
    for query in ("defense pact", "no-fly zone", "recruits combat", "Kursk"):
        assert again.search(query, 3) == fresh.search(query, 3)
    assert again.search("Kursk troops", 3) == []
    assert first.search("Kursk", 1)[0][0] == 1  # the old store is untouched
