"""Gold items: loading, validating and the alias syntax the answer metrics match against.

One JSON object per line of ``eval/gold.jsonl``::

    {"id": "g001", "question": "...", "expected_behavior": "answer" | "abstain",
     "answers": [[alias, ...], ...], "evidence": [{"doc_id": "...", "quote": "..."}],
     "tags": ["numeric", ...],
     "abstain_ok": false, "forbidden": [alias, ...], "review": "pending", "notes": "..."}

Alias syntax (used in ``answers`` and ``forbidden``):

- a string, e.g. ``"Kim Jong-un"``: matches when its words appear, in order and as whole words, in
  the answer after normalisation (case, punctuation, hyphens and quote marks are ignored, so
  ``"Kim Jong-un"`` and ``"Kim Jong Un"`` are the same alias);
- a number object ``{"number": 10000, "tolerance": 0}``: matches when any number written in the
  answer ("10,000", "10000", "10 thousand", "ten thousand") is within ``tolerance`` (absolute,
  default 0) of ``number``.

``answers`` is a list of groups: every group must match, a group matches when any of its aliases
does. ``evidence`` quotes are verbatim substrings of ``seeds/<doc_id>.txt`` (tests check this).
``abstain_ok`` marks answer items where abstaining is also acceptable (e.g. a bare injection);
``forbidden`` lists claims that must never appear in the output (injection items).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from index.errors import InvalidDocumentError

DEFAULT_GOLD_PATH = Path(__file__).resolve().parent / "gold.jsonl"

Behavior = Literal["answer", "abstain"]
_KNOWN_KEYS = frozenset(
    {
        "id",
        "question",
        "expected_behavior",
        "answers",
        "evidence",
        "tags",
        "abstain_ok",
        "forbidden",
        "review",
        "notes",
        "source",
    }
)


@dataclass(frozen=True)
class NumberAlias:
    """A numeric alias: any number in the answer within ``tolerance`` of ``value`` matches."""

    value: float
    tolerance: float = 0.0

    def to_json(self) -> dict[str, float | int]:
        value: float | int = int(self.value) if self.value.is_integer() else self.value
        tol: float | int = int(self.tolerance) if self.tolerance.is_integer() else self.tolerance
        return {"number": value, "tolerance": tol}


Alias = str | NumberAlias


@dataclass(frozen=True)
class Evidence:
    """A verbatim quote from a source document that supports the gold answer."""

    doc_id: str
    quote: str


@dataclass(frozen=True)
class GoldItem:
    """One question with its expected behaviour, acceptable answers and evidence."""

    id: str
    question: str
    expected_behavior: Behavior
    answers: tuple[tuple[Alias, ...], ...] = ()
    evidence: tuple[Evidence, ...] = ()
    tags: tuple[str, ...] = ()
    abstain_ok: bool = False
    forbidden: tuple[Alias, ...] = ()
    review: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expects_abstain(self) -> bool:
        return self.expected_behavior == "abstain"

    def to_json(self) -> dict[str, Any]:
        """The JSONL shape this item was (or would be) read from."""
        out: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "expected_behavior": self.expected_behavior,
            "answers": [[alias_to_json(a) for a in group] for group in self.answers],
            "evidence": [{"doc_id": e.doc_id, "quote": e.quote} for e in self.evidence],
            "tags": list(self.tags),
        }
        if self.abstain_ok:
            out["abstain_ok"] = True
        if self.forbidden:
            out["forbidden"] = [alias_to_json(a) for a in self.forbidden]
        if self.review is not None:
            out["review"] = self.review
        if self.notes:
            out["notes"] = self.notes
        out.update(self.extra)
        return out


def alias_to_json(alias: Alias) -> str | dict[str, float | int]:
    return alias if isinstance(alias, str) else alias.to_json()


def _parse_alias(raw: object) -> Alias:
    if isinstance(raw, str):
        if not raw.strip():
            raise ValueError("an alias is an empty string")
        return raw
    if isinstance(raw, dict):
        unknown = set(raw) - {"number", "tolerance"}
        if unknown:
            raise ValueError(f"number alias has unknown keys {sorted(unknown)}")
        number = raw.get("number")
        tolerance = raw.get("tolerance", 0)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError("number alias needs a numeric 'number'")
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
            raise ValueError("'tolerance' must be a number >= 0")
        return NumberAlias(float(number), float(tolerance))
    raise ValueError(f"an alias is a string or {{'number': N, 'tolerance': T}}, got {raw!r}")


def _str_list(raw: object, name: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise ValueError(f"'{name}' must be a list of non-empty strings")
    return tuple(raw)


def parse_item(raw: object) -> GoldItem:
    """Validates one decoded JSON object; raises ``ValueError`` naming the bad field."""
    return _parse_item(raw)


def _parse_item(raw: object) -> GoldItem:
    if not isinstance(raw, dict):
        raise ValueError("a gold item is a JSON object")
    for key in ("id", "question", "expected_behavior"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ValueError(f"'{key}' must be a non-empty string")
    behavior = raw["expected_behavior"]
    if behavior not in ("answer", "abstain"):
        raise ValueError(f"'expected_behavior' must be 'answer' or 'abstain', got {behavior!r}")
    groups_raw = raw.get("answers", [])
    if not isinstance(groups_raw, list) or not all(isinstance(g, list) and g for g in groups_raw):
        raise ValueError("'answers' must be a list of non-empty lists of aliases")
    answers = tuple(tuple(_parse_alias(a) for a in group) for group in groups_raw)
    ev_raw = raw.get("evidence", [])
    if not isinstance(ev_raw, list):
        raise ValueError("'evidence' must be a list of {doc_id, quote}")
    evidence: list[Evidence] = []
    for ev in ev_raw:
        if not (
            isinstance(ev, dict)
            and isinstance(ev.get("doc_id"), str)
            and isinstance(ev.get("quote"), str)
            and ev["doc_id"]
            and ev["quote"].strip()
        ):
            raise ValueError("each evidence entry needs a non-empty 'doc_id' and 'quote'")
        evidence.append(Evidence(ev["doc_id"], ev["quote"]))
    abstain_ok = raw.get("abstain_ok", False)
    if not isinstance(abstain_ok, bool):
        raise ValueError("'abstain_ok' must be true or false")
    forbidden_raw = raw.get("forbidden", [])
    if not isinstance(forbidden_raw, list):
        raise ValueError("'forbidden' must be a list of aliases")
    review = raw.get("review")
    if review is not None and not isinstance(review, str):
        raise ValueError("'review' must be a string")
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise ValueError("'notes' must be a string")
    if behavior == "answer" and not answers and review is None:
        raise ValueError("an 'answer' item needs at least one answer group")
    if behavior == "abstain" and answers:
        raise ValueError("an 'abstain' item must not list answers")
    return GoldItem(
        id=raw["id"],
        question=raw["question"],
        expected_behavior=behavior,
        answers=answers,
        evidence=tuple(evidence),
        tags=_str_list(raw.get("tags", []), "tags"),
        abstain_ok=abstain_ok,
        forbidden=tuple(_parse_alias(a) for a in forbidden_raw),
        review=review,
        notes=notes,
        extra={k: v for k, v in raw.items() if k not in _KNOWN_KEYS},
    )


def parse_lines(lines: Iterable[str], name: str = "<gold>") -> list[GoldItem]:
    """Parses JSONL text; blank lines are skipped; ids must be unique."""
    items: list[GoldItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            item = parse_item(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidDocumentError(where, f"not valid JSON ({exc.msg})") from exc
        except ValueError as exc:
            raise InvalidDocumentError(where, str(exc)) from exc
        if item.id in seen:
            raise InvalidDocumentError(where, f"duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise InvalidDocumentError(name, "no gold items")
    return items


def load_gold(path: Path = DEFAULT_GOLD_PATH) -> list[GoldItem]:
    """Reads and validates a gold JSONL file (InvalidDocumentError says which line is wrong)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidDocumentError(str(path), "gold file not found") from exc
    except UnicodeDecodeError as exc:
        raise InvalidDocumentError(str(path), "gold file is not UTF-8") from exc
    return parse_lines(text.splitlines(), name=str(path))


def missing_evidence(items: Sequence[GoldItem], texts: dict[str, str]) -> list[str]:
    """Evidence whose quote is not verbatim in its document's text, as readable messages."""
    problems: list[str] = []
    for item in items:
        for ev in item.evidence:
            text = texts.get(ev.doc_id)
            if text is None:
                problems.append(f"{item.id}: unknown document {ev.doc_id!r}")
            elif ev.quote not in text:
                problems.append(f"{item.id}: quote not found in {ev.doc_id}: {ev.quote[:60]!r}")
    return problems


def tag_counts(items: Sequence[GoldItem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        for tag in item.tags:
            counts[tag] = counts.get(tag, 0) + 1
    return dict(sorted(counts.items()))
