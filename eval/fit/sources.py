"""Where fit questions come from, as the plain records the cache stores.

- :class:`SquadSource`: a SQuAD-format folder (:mod:`eval.squad.data`); each article (document)
  is its own leave-one-article-out group; gold spans are the dataset's.
- :class:`GoldSource`: the seeds gold set (``eval/gold.jsonl`` over ``seeds/``), one group
  ``"seeds"``; gold spans are where its evidence quotes stand in the indexed documents, and an
  answer must match every alias group (``eval.metrics.groups_matched``), as the seeds eval scores.

A record: ``{"id", "question", "article", "answerable", "answers": [str], "groups": [[alias]],
"spans": [[doc_id, start, end]], "tags": [str]}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eval.gold import DEFAULT_GOLD_PATH, alias_to_json, load_gold
from eval.squad.data import QUESTIONS_FILE, load_squad
from index.errors import InvalidDocumentError
from service.settings import REPO_ROOT

SEEDS_DIR = REPO_ROOT / "seeds"


class Source(Protocol):
    """A dev set the fit cache can be built from."""

    @property
    def name(self) -> str: ...

    @property
    def docs_dir(self) -> Path: ...

    def fingerprint(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    def questions(self, texts: Mapping[str, str]) -> list[dict[str, Any]]: ...


def _files_hash(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class SquadSource:
    """A SQuAD 2.0-format folder: ``docs/*.txt`` and ``questions.jsonl``."""

    root: Path
    name: str = "squad"

    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    def fingerprint(self) -> str:
        load_squad(self.root)  # fails clearly when the folder is not a dataset
        files = [*self.docs_dir.glob("*.txt"), self.root / QUESTIONS_FILE]
        return _files_hash(files, self.root)

    def describe(self) -> dict[str, Any]:
        return {"kind": "squad", "path": str(self.root), "sha256": self.fingerprint()}

    def questions(self, texts: Mapping[str, str]) -> list[dict[str, Any]]:
        data = load_squad(self.root)
        for doc_id, text in data.docs.items():
            if texts.get(doc_id) != text:
                # Gold offsets are into the file's text; an index that changed it cannot be scored.
                raise InvalidDocumentError(doc_id, "the indexed text differs from the file")
        return [
            {
                "id": it.id,
                "question": it.question,
                "article": it.doc_id,
                "answerable": it.answerable,
                "answers": list(it.answers),
                "groups": [],
                "spans": [[it.doc_id, s, e] for s, e in it.spans],
                "tags": [],
            }
            for it in data.items
        ]


@dataclass(frozen=True)
class GoldSource:
    """The seeds gold set over the seeds folder."""

    gold_path: Path = DEFAULT_GOLD_PATH
    seeds_dir: Path = SEEDS_DIR
    name: str = "seeds"

    @property
    def docs_dir(self) -> Path:
        return self.seeds_dir

    def fingerprint(self) -> str:
        docs = _files_hash([p for p in self.seeds_dir.rglob("*") if p.is_file()], self.seeds_dir)
        gold = _files_hash([self.gold_path], self.gold_path.parent)
        return hashlib.sha256(f"{docs}:{gold}".encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "gold",
            "gold": str(self.gold_path),
            "docs": str(self.seeds_dir),
            "sha256": self.fingerprint(),
        }

    def questions(self, texts: Mapping[str, str]) -> list[dict[str, Any]]:
        records = []
        for g in load_gold(self.gold_path):
            spans = []
            for ev in g.evidence:
                pos = texts.get(ev.doc_id, "").find(ev.quote)
                if pos >= 0:
                    spans.append([ev.doc_id, pos, pos + len(ev.quote)])
            records.append(
                {
                    "id": g.id,
                    "question": g.question,
                    "article": "seeds",
                    "answerable": not g.expects_abstain,
                    "answers": [],
                    "groups": [[alias_to_json(a) for a in group] for group in g.answers],
                    "spans": spans,
                    "tags": list(g.tags),
                }
            )
        return records
