"""Scoring SQuAD-format runs: per-question judgements by the rule of :mod:`eval.squad.data`, and the
aggregates the report and the gate read (counts with bootstrap CIs, per question type,
reliability of the answers' ``confidence``).

Metric keys (``squad.*`` rates are over answerable or unanswerable questions as named):

- ``squad.correct_cited``: answerable questions answered with a contained gold answer and a
  citation covering a gold span;
- ``squad.false_refusal`` / ``squad.answerable_answered``: answerable questions refused / answered
  (the gate reads the second, since every gated metric is "higher is better");
- ``squad.unanswerable_refused``: unanswerable questions the output abstained on;
- ``squad.handled``: all questions with the right behaviour (correct and cited, or refused);
- ``squad.answer_precision``: answers given (to any question) that are correct;
- ``citation.validity``: citations whose quote is ``document.text[start:end]``; ``errors``.
- reliability: answered questions in ten confidence bins, the share correct per bin (an answer to
  an unanswerable question is never correct), and ECE = the count-weighted mean gap.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.aggregate import Metric, ratio_metric
from eval.metrics import citation_valid, output_text, strip_markers
from eval.squad.data import SquadItem, contains_answer, covers
from service.answering.question import analyse_question

GATED_SQUAD = (
    "squad.correct_cited",
    "squad.answerable_answered",
    "squad.unanswerable_refused",
    "squad.handled",
    "citation.validity",
)
HEADLINE_SQUAD = (
    "squad.correct_cited",
    "squad.false_refusal",
    "squad.unanswerable_refused",
    "squad.handled",
    "squad.answer_precision",
    "citation.validity",
    "errors",
)
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class SquadScore:
    """How one output was judged."""

    id: str
    doc_id: str
    qtype: str
    answerable: bool
    abstained: bool
    abstain_code: str | None
    error: str | None
    contains: bool  # a normalised gold answer stands in the normalised answer text
    cited: bool  # a citation covers a gold span
    citations_total: int
    citations_valid: int
    words: int  # words of the answer text (markers stripped); 0 when abstained
    confidence: float | None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return not self.abstained and self.error is None

    @property
    def correct(self) -> bool:
        return self.answerable and self.answered and self.contains and self.cited

    @property
    def handled(self) -> bool:
        if self.error is not None:
            return False
        return self.correct if self.answerable else self.abstained


def _confidence(output: Mapping[str, Any]) -> float | None:
    value = output.get("confidence")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def score_output(
    item: SquadItem,
    output: Mapping[str, Any],
    doc_texts: Mapping[str, str],
    error: str | None = None,
    timings_ms: Mapping[str, float] | None = None,
) -> SquadScore:
    """Judges one output (``Answer.to_dict()`` shape) against its question."""
    abstained = bool(output.get("abstained")) and error is None
    citations = [] if abstained else list(output.get("citations") or ())
    answered = not abstained and error is None
    cited = any(
        str(c.get("doc_id")) == item.doc_id
        and isinstance(c.get("start"), int)
        and isinstance(c.get("end"), int)
        and covers(int(c["start"]), int(c["end"]), item.spans)
        for c in citations
    )
    code = output.get("abstain_code")
    return SquadScore(
        id=item.id,
        doc_id=item.doc_id,
        qtype=analyse_question(item.question).qtype,
        answerable=item.answerable,
        abstained=abstained,
        abstain_code=str(code) if abstained and code else None,
        error=error,
        contains=answered and contains_answer(output_text(output), item.answers),
        cited=answered and cited,
        citations_total=len(citations),
        citations_valid=sum(1 for c in citations if citation_valid(c, doc_texts)),
        words=len(strip_markers(str(output.get("answer") or "")).split()) if answered else 0,
        confidence=_confidence(output),
        timings_ms=dict(timings_ms or {}),
    )


def _share(name: str, verdicts: Sequence[bool]) -> Metric:
    return ratio_metric(name, [(1.0 if v else 0.0, 1.0) for v in verdicts])


def aggregate_squad(scores: Sequence[SquadScore]) -> dict[str, Metric]:
    """Every headline metric, keyed by the names the baseline and the gate use."""
    ans = [s for s in scores if s.answerable]
    una = [s for s in scores if not s.answerable]
    return {
        "squad.correct_cited": _share("squad.correct_cited", [s.correct for s in ans]),
        "squad.false_refusal": _share("squad.false_refusal", [s.abstained for s in ans]),
        "squad.answerable_answered": _share("squad.answerable_answered", [s.answered for s in ans]),
        "squad.unanswerable_refused": _share(
            "squad.unanswerable_refused", [s.abstained for s in una]
        ),
        "squad.handled": _share("squad.handled", [s.handled for s in scores]),
        "squad.answer_precision": _share(
            "squad.answer_precision", [s.correct for s in scores if s.answered]
        ),
        "citation.validity": ratio_metric(
            "citation.validity", [(s.citations_valid, s.citations_total) for s in scores]
        ),
        "errors": _share("errors", [s.error is not None for s in scores]),
    }


def misplaced_citations(scores: Sequence[SquadScore]) -> int:
    """Citations whose quote is not at its offsets (must be 0)."""
    return sum(s.citations_total - s.citations_valid for s in scores)


def median_answer_words(scores: Sequence[SquadScore]) -> float | None:
    """Median words of the answers given to answerable questions."""
    words = [s.words for s in scores if s.answerable and s.answered]
    return float(statistics.median(words)) if words else None


@dataclass(frozen=True)
class QtypeRow:
    """One question type's figures (``analyse_question(q).qtype``)."""

    qtype: str
    answerable: int
    correct_cited: float | None
    false_refusal: float | None
    unanswerable: int
    unanswerable_refused: float | None


def _rate(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def by_qtype(scores: Sequence[SquadScore]) -> list[QtypeRow]:
    """Per question type, most frequent first."""
    groups: dict[str, list[SquadScore]] = {}
    for s in scores:
        groups.setdefault(s.qtype, []).append(s)
    rows = []
    for qtype, group in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        ans = [s for s in group if s.answerable]
        una = [s for s in group if not s.answerable]
        rows.append(
            QtypeRow(
                qtype,
                len(ans),
                _rate([s.correct for s in ans]),
                _rate([s.abstained for s in ans]),
                len(una),
                _rate([s.abstained for s in una]),
            )
        )
    return rows


@dataclass(frozen=True)
class ReliabilityBin:
    """Answered questions whose confidence falls in ``[low, high)`` (the last bin includes 1)."""

    low: float
    high: float
    n: int
    mean_confidence: float
    accuracy: float


def reliability_bins(
    pairs: Sequence[tuple[float, bool]], bins: int = RELIABILITY_BINS
) -> tuple[list[ReliabilityBin], float]:
    """Equal-width bins of ``(confidence, correct)`` pairs and the expected calibration error."""
    table: list[ReliabilityBin] = []
    gap = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        sel = [(c, ok) for c, ok in pairs if low <= c < high or (b == bins - 1 and c == high)]
        if not sel:
            continue
        mean_c = sum(c for c, _ in sel) / len(sel)
        acc = sum(ok for _, ok in sel) / len(sel)
        table.append(ReliabilityBin(low, high, len(sel), mean_c, acc))
        gap += len(sel) * abs(mean_c - acc)
    return table, gap / max(1, len(pairs))


def reliability(
    scores: Sequence[SquadScore], bins: int = RELIABILITY_BINS
) -> tuple[list[ReliabilityBin], float] | None:
    """Reliability of the answered questions' confidence; None when outputs carry none."""
    pairs = [(s.confidence, s.correct) for s in scores if s.answered and s.confidence is not None]
    if not pairs:
        return None
    return reliability_bins(pairs, bins)
