"""The multi-turn gold: valid, large enough, every quote verbatim; the runner scores each turn
three ways (in the conversation, standalone, without history) and the gate holds the floor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.conversations.data import (
    DEFAULT_CONVERSATIONS_PATH,
    load_conversations,
    parse_conversation,
)
from eval.conversations.run import GROUPS, HistoryAsker, run_conversations
from eval.gold import missing_evidence
from eval.harness import InProcessTarget
from eval.squad.data import DEFAULT_SQUAD_DIR
from index.errors import InvalidDocumentError
from service.answering.generators.extractive import ExtractiveGenerator
from service.answering.pipeline import AnswerPipeline
from tests.fakes import seed_fake_index

CONVERSATIONS = load_conversations(DEFAULT_CONVERSATIONS_PATH)


def _texts(folder: Path) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in folder.glob("*.txt")}


def test_at_least_15_conversations_per_corpus_of_2_to_4_turns() -> None:
    for corpus in ("seeds", "squad2"):
        chosen = [c for c in CONVERSATIONS if c.corpus == corpus]
        assert len(chosen) >= 15, corpus
        assert all(2 <= len(c.turns) <= 4 for c in chosen)


def test_a_held_out_split_is_kept_apart() -> None:
    splits = {c.split for c in CONVERSATIONS}
    assert splits == {"dev", "heldout"}
    assert sum(c.split == "heldout" for c in CONVERSATIONS) >= 10


def test_every_follow_up_has_its_standalone_form_and_the_kinds_are_covered() -> None:
    kinds: set[str] = set()
    for conv in CONVERSATIONS:
        for n, turn in enumerate(conv.turns):
            assert (turn.standalone is None) == (n == 0), turn.item.id
            if n:
                assert turn.standalone != turn.item.question
                kinds.update(turn.item.tags)
    assert {"pronoun", "ellipsis", "what-about", "the-other-one"} <= kinds


def test_every_evidence_quote_is_verbatim_in_its_corpus(seeds_dir: Path) -> None:
    texts = {"seeds": _texts(seeds_dir), "squad2": _texts(DEFAULT_SQUAD_DIR / "docs")}
    for conv in CONVERSATIONS:
        items = [t.item for t in conv.turns]
        assert missing_evidence(items, texts[conv.corpus]) == [], conv.id


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"id": "x", "corpus": "web", "turns": []}, "corpus"),
        ({"id": "x", "corpus": "seeds", "split": "test", "turns": []}, "split"),
        (
            {"id": "x", "corpus": "seeds", "turns": [{"question": "Q?", "answers": [["a"]]}]},
            "2 to 4",
        ),
        (
            {
                "id": "x",
                "corpus": "seeds",
                "turns": [
                    {"question": "Q?", "answers": [["a"]]},
                    {"question": "It?", "answers": [["b"]]},
                ],
            },
            "standalone",
        ),
    ],
)
def test_malformed_conversations_say_what_is_wrong(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_conversation(raw)


def test_loading_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "x", "corpus": "seeds", "turns": []}) + "\n")
    with pytest.raises(InvalidDocumentError, match=r"c\.jsonl:1"):
        load_conversations(path)


def test_runner_scores_each_follow_up_three_ways() -> None:
    index = seed_fake_index()
    pipeline = AnswerPipeline(index, ExtractiveGenerator(index), prompt_version="0" * 12)
    target: HistoryAsker = InProcessTarget(pipeline, index=index)
    pact = [c for c in CONVERSATIONS if c.id == "s01"]
    run = run_conversations(pact, {"seeds": target})
    by_group = {r.group: r for r in run.runs}
    assert set(by_group) == set(GROUPS)
    follow = by_group["followup"]
    assert follow.retrieval_query == "When was the mutual defense pact signed?"
    assert follow.score.correct
    assert by_group["standalone"].question == "When was the mutual defense pact signed?"
    assert by_group["followup_alone"].retrieval_query is None
    assert run.metrics["followup.answer.accuracy"].value == 1.0
    assert run.metrics["seeds.followup.rewritten"].value == 1.0
    assert run.gap == 0.0
