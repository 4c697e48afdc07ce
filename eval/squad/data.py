"""SQuAD 2.0-format datasets: loading, the dataset README's scoring rule, and fixed samples.

A dataset folder holds ``docs/<doc_id>.txt`` (one document per article) and ``questions.jsonl``
(``id``, ``question``, ``doc_id``, ``paragraph``, ``expect`` = ``"answer"`` | ``"abstain"``, and for
answerable questions ``answers`` and ``spans``, ``[start, end)`` offsets into the document text).
The SQuAD 2.0 dev set of six articles is vendored at ``eval/squad2-dev`` (CC BY-SA 4.0, a copy of
``../shared/external/squad2-dev``), so every checkout and CI have it.

Scoring (its README's rule; ALCE-style string containment, no judge):

- an answerable question is **correct** when the output did not abstain, a SQuAD-normalised gold
  answer (lower case, ASCII punctuation and the articles a/an/the removed, whitespace collapsed) is
  contained in the normalised answer text (citation markers stripped, reported conflict values
  included), and one of its citations **covers** a gold span: same document,
  ``citation.start <= span.start`` and ``span.end <= citation.end``;
- an unanswerable question is **handled** when the output abstains;
- a **false refusal** is an abstention on an answerable question;
- a citation is **misplaced** when ``document.text[start:end] != quote`` (must never happen).
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import InvalidDocumentError

DEFAULT_SQUAD_DIR = Path(__file__).resolve().parents[1] / "squad2-dev"
QUESTIONS_FILE = "questions.jsonl"

_PUNCT = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class SquadItem:
    """One question; ``spans`` are ``(start, end)`` offsets into ``doc_id``'s text."""

    id: str
    question: str
    doc_id: str
    answerable: bool
    answers: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    paragraph: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class SquadSet:
    """A loaded dataset: its folder, its questions (file order) and document texts by id."""

    root: Path
    items: list[SquadItem]
    docs: dict[str, str] = field(repr=False)

    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    @property
    def questions_path(self) -> Path:
        return self.root / QUESTIONS_FILE


def normalize_answer(text: str) -> str:
    """The official SQuAD normalisation: lower, ASCII punctuation and articles out, spaces
    collapsed."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """A normalised gold answer is contained in the normalised ``text`` (README rule)."""
    hay = normalize_answer(text)
    return any(gold and gold in hay for gold in (normalize_answer(a) for a in answers))


def covers(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    """``[start, end)`` contains one of ``spans`` (offsets in the same document)."""
    return any(start <= s and e <= end for s, e in spans)


def _missing(root: Path) -> InvalidDocumentError:
    return InvalidDocumentError(
        str(root),
        f"no SQuAD 2.0-format dataset here (expected docs/*.txt and {QUESTIONS_FILE}); the dev "
        f"set is vendored at {DEFAULT_SQUAD_DIR}; pass a folder in the same format as PATH",
    )


def _parse(raw: Any, docs: Mapping[str, str], where: str) -> SquadItem:
    if not isinstance(raw, dict):
        raise InvalidDocumentError(where, "a question is a JSON object")
    try:
        doc_id = str(raw["doc_id"])
        expect = raw["expect"]
        para = raw.get("paragraph") or (0, 0)
        item = SquadItem(
            id=str(raw["id"]),
            question=str(raw["question"]),
            doc_id=doc_id,
            answerable=expect == "answer",
            answers=tuple(str(a) for a in raw.get("answers", [])),
            spans=tuple((int(s), int(e)) for s, e in raw.get("spans", [])),
            paragraph=(int(para[0]), int(para[1])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidDocumentError(where, f"malformed question ({exc})") from exc
    if expect not in ("answer", "abstain"):
        raise InvalidDocumentError(where, f"'expect' must be 'answer' or 'abstain', not {expect!r}")
    text = docs.get(doc_id)
    if text is None:
        raise InvalidDocumentError(where, f"unknown document {doc_id!r}")
    if item.answerable and not (item.answers and item.spans):
        raise InvalidDocumentError(where, "an answerable question needs answers and spans")
    for s, e in item.spans:
        if not 0 <= s < e <= len(text):
            raise InvalidDocumentError(where, f"span {s}-{e} outside {doc_id}")
    return item


def load_squad(root: Path) -> SquadSet:
    """Reads and checks a dataset folder (InvalidDocumentError, saying what is missing)."""
    root = Path(root)
    docs_dir, questions = root / "docs", root / QUESTIONS_FILE
    if not docs_dir.is_dir() or not questions.is_file():
        raise _missing(root)
    docs = {p.stem: p.read_text(encoding="utf-8") for p in sorted(docs_dir.glob("*.txt"))}
    items: list[SquadItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(questions.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{questions}:{lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidDocumentError(where, f"not valid JSON ({exc.msg})") from exc
        item = _parse(raw, docs, where)
        if item.id in seen:
            raise InvalidDocumentError(where, f"duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise InvalidDocumentError(str(questions), "no questions")
    return SquadSet(root, items, docs)


def stratified_sample(items: Sequence[SquadItem], n: int, seed: int) -> list[SquadItem]:
    """A fixed sample of ``n`` items, stratified by article and answerable/unanswerable.

    Each stratum gets its proportional share (largest remainder, ties to the larger stratum,
    then the stratum key), drawn with a generator seeded by ``seed`` and the stratum's key, so
    the sample depends on nothing else (not on file order, nor on other strata). The items are
    returned in their original order.
    """
    if n >= len(items):
        return list(items)
    strata: dict[tuple[str, bool], list[SquadItem]] = {}
    for it in items:
        strata.setdefault((it.doc_id, it.answerable), []).append(it)
    keys = sorted(strata)
    exact = {k: n * len(strata[k]) / len(items) for k in keys}
    quota = {k: int(exact[k]) for k in keys}
    by_remainder = sorted(keys, key=lambda k: (-(exact[k] - quota[k]), -len(strata[k]), k))
    for k in by_remainder[: n - sum(quota.values())]:
        quota[k] += 1
    chosen: set[str] = set()
    for k in keys:
        pool = sorted(strata[k], key=lambda it: it.id)
        random.Random(f"{seed}:{k[0]}:{int(k[1])}").shuffle(pool)
        chosen.update(it.id for it in pool[: quota[k]])
    return [it for it in items if it.id in chosen]
