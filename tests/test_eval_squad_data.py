"""SQuAD-format datasets: loading and its errors, and the fixed stratified sample."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eval.squad.data import SquadItem, load_squad, stratified_sample
from index.errors import InvalidDocumentError

# Three small articles of invented facts: who founded which town, when, and on which river.
_ARTICLES = {
    "art_alpha": [
        ("Orlan Vesk", "Brenmouth", "1204", "Tellas"),
        ("Mira Quen", "Dovecar", "1311", "Ashby"),
    ],
    "art_beta": [
        ("Halvard Roe", "Kestwick", "1432", "Morrow"),
        ("Ysolde Parr", "Lindqvist", "1519", "Fenn"),
    ],
    "art_gamma": [
        ("Tobiah Crane", "Saltmere", "1620", "Corvel"),
        ("Edda Voss", "Quillon", "1777", "Harth"),
    ],
}


def _question(
    qid: str, question: str, answer: str | None, doc_id: str, text: str
) -> dict[str, object]:
    item: dict[str, object] = {
        "id": qid,
        "question": question,
        "doc_id": doc_id,
        "paragraph": [0, len(text)],
    }
    if answer is None:
        item["expect"] = "abstain"
    else:
        start = text.index(answer)
        item.update(expect="answer", answers=[answer], spans=[[start, start + len(answer)]])
    return item


def make_squad_dataset(root: Path) -> Path:
    """A SQuAD 2.0-format folder: 3 articles, 5 answerable + 3 unanswerable questions each."""
    (root / "docs").mkdir(parents=True)
    lines = []
    for doc_id, facts in _ARTICLES.items():
        title = doc_id.replace("_", " ").title()
        paragraphs = []
        for person, town, year, river in facts:
            paragraphs.append(
                f"The town of {town} stands on the river {river}. It was founded in {year} by "
                f"{person}, a merchant from the coast. Today {town} is known for its bridges."
            )
        text = f"{title}\n\n" + "\n\n".join(paragraphs) + "\n"
        (root / "docs" / f"{doc_id}.txt").write_text(text, encoding="utf-8")

        def q(qid: str, question: str, answer: str | None, d: str = doc_id, t: str = text) -> None:
            lines.append(json.dumps(_question(qid, question, answer, d, t)))

        for i, (person, town, year, river) in enumerate(facts):
            q(f"{doc_id}-who{i}", f"Who founded the town of {town}?", person)
            q(f"{doc_id}-when{i}", f"In what year was {town} founded?", year)
            if i == 0:
                q(f"{doc_id}-river{i}", f"On which river does {town} stand?", river)
            q(f"{doc_id}-un{i}", f"Who destroyed the town of {town}?", None)
        q(f"{doc_id}-un9", f"How many bridges were built in {facts[0][1]} in 1900?", None)
    (root / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _items(
    n_docs: int = 4, answerable: int = 30, unanswerable: int = 20, first: int = 0
) -> list[SquadItem]:
    items = []
    for d in range(first, first + n_docs):
        for i in range(answerable + unanswerable):
            items.append(SquadItem(f"d{d}-q{i:03d}", f"question {i}?", f"doc{d}", i < answerable))
    return items


def test_the_synthetic_dataset_loads_and_its_spans_are_its_answers(tmp_path: Path) -> None:
    data = load_squad(make_squad_dataset(tmp_path))
    assert len(data.items) == 24
    assert sum(it.answerable for it in data.items) == 15
    for it in data.items:
        for s, e in it.spans:
            assert data.docs[it.doc_id][s:e] in it.answers


def test_a_missing_dataset_says_where_it_was_expected(tmp_path: Path) -> None:
    with pytest.raises(InvalidDocumentError, match=r"vendored at .*squad2-dev; pass a folder"):
        load_squad(tmp_path / "nowhere")


def test_a_malformed_question_names_its_line(tmp_path: Path) -> None:
    root = make_squad_dataset(tmp_path)
    with (root / "questions.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "x", "question": "q?", "doc_id": "nope", "expect": "abstain"}))
    with pytest.raises(InvalidDocumentError, match=r"questions.jsonl:25.*unknown document"):
        load_squad(root)


def test_the_sample_is_deterministic_and_in_dataset_order() -> None:
    items = _items()
    a = stratified_sample(items, 60, seed=0)
    assert [it.id for it in a] == [it.id for it in stratified_sample(items, 60, seed=0)]
    assert [it.id for it in a] == sorted(it.id for it in a)  # ids follow dataset order here
    assert len(a) == 60
    assert {it.id for it in a} != {it.id for it in stratified_sample(items, 60, seed=1)}
    # The order of the input does not change which items are drawn.
    assert {it.id for it in stratified_sample(items[::-1], 60, seed=0)} == {it.id for it in a}


def test_the_sample_is_stratified_by_article_and_answerability() -> None:
    items = _items(n_docs=3, answerable=40, unanswerable=25) + _items(1, 10, 30, first=3)
    sample = stratified_sample(items, 100, seed=7)
    assert len(sample) == 100
    total = Counter((it.doc_id, it.answerable) for it in items)
    drawn = Counter((it.doc_id, it.answerable) for it in sample)
    for key, size in total.items():
        assert abs(drawn[key] - 100 * size / len(items)) < 1.0, key


def test_a_sample_as_large_as_the_set_is_the_set() -> None:
    items = _items(1, 3, 2)
    assert stratified_sample(items, 10, seed=0) == items
