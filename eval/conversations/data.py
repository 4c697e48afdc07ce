"""Loading ``eval/conversations.jsonl``: conversations of 2-4 turns, each follow-up with the
standalone question it stands for.

One JSON object per line::

    {"id": "s01", "corpus": "seeds" | "squad2",
     "turns": [{"question": "Who signed the mutual defense pact?", "answers": [...],
                "evidence": [...]},
               {"question": "When was it signed?",
                "standalone": "When was the mutual defense pact signed?",
                "answers": [["June 2024"]], "evidence": [...], "tags": ["pronoun"]}]}

Each turn is a gold item in the syntax of :mod:`eval.gold` (``answers``, ``evidence``,
``expected_behavior`` defaulting to "answer", ``tags``); every turn after the first needs its
``standalone`` form. ``corpus`` names the documents the evidence quotes: ``seeds/`` or
``eval/squad2-dev/docs``. ``split`` is "dev" (default: the conversations the rewriter was
developed against) or "heldout" (written after its rules were frozen, reported apart).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eval.gold import GoldItem, parse_item
from index.errors import InvalidDocumentError

DEFAULT_CONVERSATIONS_PATH = Path(__file__).resolve().parents[1] / "conversations.jsonl"
Corpus = Literal["seeds", "squad2"]
CORPORA: tuple[Corpus, ...] = ("seeds", "squad2")
SPLITS = ("dev", "heldout")


@dataclass(frozen=True)
class ConversationTurn:
    """One turn: the gold item as asked in the conversation, and its standalone form."""

    item: GoldItem
    standalone: str | None  # None for the first turn

    def standalone_item(self) -> GoldItem:
        """The same gold item, asked as its standalone question."""
        from dataclasses import replace

        assert self.standalone is not None
        return replace(self.item, id=f"{self.item.id}.standalone", question=self.standalone)


@dataclass(frozen=True)
class Conversation:
    id: str
    corpus: Corpus
    turns: tuple[ConversationTurn, ...]
    split: str = "dev"


def parse_conversation(raw: object) -> Conversation:
    """One decoded line; ``ValueError`` naming what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("a conversation is a JSON object")
    cid, corpus, turns_raw = raw.get("id"), raw.get("corpus"), raw.get("turns")
    if not isinstance(cid, str) or not cid.strip():
        raise ValueError("'id' must be a non-empty string")
    if corpus not in CORPORA:
        raise ValueError(f"'corpus' must be one of {list(CORPORA)}")
    split = raw.get("split", "dev")
    if split not in SPLITS:
        raise ValueError(f"'split' must be one of {list(SPLITS)}")
    if not isinstance(turns_raw, list) or not 2 <= len(turns_raw) <= 4:
        raise ValueError("'turns' must be a list of 2 to 4 turns")
    turns = []
    for n, t in enumerate(turns_raw):
        if not isinstance(t, dict):
            raise ValueError(f"turn {n} is not an object")
        standalone = t.get("standalone")
        if n > 0 and (not isinstance(standalone, str) or not standalone.strip()):
            raise ValueError(f"turn {n} needs its 'standalone' question")
        tags = list(t.get("tags", [])) + (["follow-up"] if n else ["first-turn"])
        fields = {k: v for k, v in t.items() if k != "standalone"}
        fields.update(
            id=f"{cid}.{n + 1}",
            expected_behavior=t.get("expected_behavior", "answer"),
            tags=tags,
        )
        try:
            item = parse_item(fields)
        except ValueError as exc:
            raise ValueError(f"turn {n}: {exc}") from exc
        turns.append(ConversationTurn(item, standalone if n else None))
    return Conversation(cid, corpus, tuple(turns), split)


def load_conversations(path: Path = DEFAULT_CONVERSATIONS_PATH) -> list[Conversation]:
    """Reads and validates the conversations file (which line is wrong, when one is)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InvalidDocumentError(str(path), "conversations file not found") from exc
    out: list[Conversation] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            conv = parse_conversation(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidDocumentError(where, f"not valid JSON ({exc.msg})") from exc
        except ValueError as exc:
            raise InvalidDocumentError(where, str(exc)) from exc
        if conv.id in seen:
            raise InvalidDocumentError(where, f"duplicate id {conv.id!r}")
        seen.add(conv.id)
        out.append(conv)
    return out
