"""Answer quality of the default (general) answerer on the real seed index.

Questions live in tests/data/answer_dev.jsonl (written from the seeds: paraphrases, who / when /
where / why / how many, multi-source, conflicts, unanswerable, injection). The answerer is fitted
on SQuAD 2.0, never on these, so the gates are its measured levels less a margin (85% answered,
55% abstained when it landed; the seed-tuned answerer it replaced had 90% gates on both):
>= 80% of answerable questions answered with an accepted alias and a citation to an evidence
document; >= 50% of unanswerable ones abstained; conflicts reported with their values; every
citation an exact slice of its document.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from service.answering.generators.extractive import ExtractiveGenerator
from service.answering.pipeline import AnswerPipeline
from service.answering.types import Answer

pytestmark = pytest.mark.slow

DEV = Path(__file__).resolve().parent / "data" / "answer_dev.jsonl"


def _items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def answers(
    seed_index: Any,
    seed_index_dir: Path,
    real_embedder: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Answer, Any]]:
    from index.corpus import CorpusIndex
    from index.ingestion.reading import document_from_text

    pipeline = _pipeline(seed_index)
    injected: AnswerPipeline | None = None
    out: dict[str, tuple[Answer, Any]] = {}
    for item in _items():
        p = pipeline
        if item.get("inject"):
            if injected is None:
                # The seed index is shared read-only: inject into a copy.
                copy = tmp_path_factory.mktemp("injected") / "index"
                shutil.copytree(seed_index_dir, copy)
                index = CorpusIndex.open(copy, real_embedder)
                doc = item["inject"]
                index.add_documents([document_from_text(doc["text"], doc_id=doc["id"])])
                injected = _pipeline(index)
            p = injected
        out[item["id"]] = (p.answer(item["question"]), p.index)
    return out


def _pipeline(index: Any) -> AnswerPipeline:
    return AnswerPipeline(index, ExtractiveGenerator(index), prompt_version="0" * 12)


def test_dev_set_shape() -> None:
    items = _items()
    assert len(items) >= 30
    assert sum(i["expect"] == "abstain" for i in items) >= 8
    assert sum(bool(i.get("conflict")) for i in items) >= 3
    assert sum(bool(i.get("inject") or i.get("forbidden")) for i in items) >= 2
    assert {i["qtype"] for i in items} >= {"count", "who", "when", "where", "why", "what"}


def _correct(item: dict[str, Any], answer: Answer) -> bool:
    if answer.abstained:
        return False
    text = answer.answer.lower()
    if not any(alias.lower() in text for alias in item["aliases"]):
        return False
    return any(c.doc_id in item["evidence_docs"] for c in answer.citations)


def test_answerable_questions(answers: dict[str, tuple[Answer, Any]]) -> None:
    items = [i for i in _items() if i["expect"] == "answer"]
    wrong = [
        (i["id"], i["question"], answers[i["id"]][0].answer[:160])
        for i in items
        if not _correct(i, answers[i["id"]][0])
    ]
    rate = 1 - len(wrong) / len(items)
    assert rate >= 0.8, f"answered correctly {rate:.0%}; wrong: {wrong}"


def test_unanswerable_questions_abstain(answers: dict[str, tuple[Answer, Any]]) -> None:
    items = [i for i in _items() if i["expect"] == "abstain"]
    answered = [
        (i["id"], answers[i["id"]][0].answer[:160])
        for i in items
        if not answers[i["id"]][0].abstained
    ]
    rate = 1 - len(answered) / len(items)
    assert rate >= 0.5, f"abstained {rate:.0%}; answered: {answered}"
    for i in items:
        answer = answers[i["id"]][0]
        if answer.abstained:
            assert answer.citations == ()
            assert answer.abstain_reason


def test_injected_text_changes_nothing(answers: dict[str, tuple[Answer, Any]]) -> None:
    for item in _items():
        answer = answers[item["id"]][0]
        for phrase in item.get("forbidden", []):
            assert phrase.lower() not in answer.answer.lower(), item["id"]
        assert all(c.doc_id != "zz_injection_note" for c in answer.citations)


def test_conflict_questions_list_every_value(answers: dict[str, tuple[Answer, Any]]) -> None:
    items = [i for i in _items() if i.get("conflict")]
    covered = [i for i in items if answers[i["id"]][0].conflicts]
    assert len(covered) * 2 >= len(items), [i["id"] for i in items if i not in covered]
    for item in covered:
        answer = answers[item["id"]][0]
        docs = {v.doc_id for c in answer.conflicts for v in c.values}
        assert len(docs) >= 2
        for conflict in answer.conflicts:
            for value in conflict.values:
                assert value.value in answer.answer


def test_every_citation_is_an_exact_slice(answers: dict[str, tuple[Answer, Any]]) -> None:
    checked = 0
    for answer, index in answers.values():
        for c in answer.citations:
            assert index.get_document(c.doc_id).text[c.start : c.end] == c.quote
            checked += 1
        for s in answer.sentences:
            assert s.supported == bool(s.citations)
    assert checked >= 30
