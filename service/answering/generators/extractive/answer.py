"""``answer``: rank sentences, pick a span in the best ones, decide whether to trust it.

1. Candidate sentences of the passages get features (``sentences.py``) and a listwise linear score.
2. The top ``model.top_sentences`` sentences offer spans (``spans.py``); a second listwise linear
   model, which also sees each span's sentence score, picks one: the lead and its sentence.
3. Confidence features (``confidence.py``) go through a logistic model and an isotonic map to
   P(correct); below ``model.threshold`` the answerer abstains.

The cost is a few ms of Python per question; no model is run except the sentence vectors, which
the caller passes (the product's reranker has them cached for the retrieved chunks).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.text.tokens import lemma_term
from service.answering.generators.extractive.confidence import CONF_FEATURES, confidence_features
from service.answering.generators.extractive.model import FittedModel, Linear
from service.answering.generators.extractive.sentences import (
    SENTENCE_FEATURES,
    cached_tokens,
    candidate_sentences,
    profile,
    sentence_features,
)
from service.answering.generators.extractive.spans import SPAN_FEATURES, SpanSet, candidate_spans
from service.answering.generators.extractive.types import (
    Extracted,
    Passage,
    SentenceCand,
    SentenceVectors,
)
from service.answering.question import QuestionInfo, analyse_question, asks_for_a_quantity

logger = logging.getLogger(__name__)

SPAN_MODEL_FEATURES = (*SPAN_FEATURES, "sent_gap", "sent_prob", "sent_top")
# Below this share of the question's (rarity-weighted) words found anywhere in the evidence, a
# refusal is reported as "outside the corpus" rather than "not sure".
_OUTSIDE_COVERAGE = 0.25
# Prepositions kept in front of a date or place lead ("In 1982."), as a person would say it.
_LEAD_PREPOSITIONS = frozenset(
    ["in", "on", "at", "by", "since", "during", "from", "until", "before", "after"]
)


def softmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    e = np.exp(x - x.max())
    return np.asarray(e / e.sum())


@dataclass(frozen=True)
class Analysis:
    """Everything computed for one question (fitting reuses it)."""

    q: QuestionInfo
    sents: list[SentenceCand]
    sent_x: np.ndarray
    sent_scores: np.ndarray
    sent_probs: np.ndarray
    top: list[int]
    span_sets: list[tuple[int, SpanSet]]
    span_x: np.ndarray  # SPAN_MODEL_FEATURES rows, all spans of the top sentences
    span_owner: np.ndarray  # index into sents per row


@dataclass(frozen=True)
class Prepared:
    """The model-independent part of the analysis: question, sentences and their features."""

    q: QuestionInfo
    sents: list[SentenceCand]
    sent_x: np.ndarray

    def spans_of(self, i: int) -> SpanSet:
        return candidate_spans(cached_tokens(self.sents[i].text), self.q)


def prepare(
    question: str,
    passages: Sequence[Passage],
    sentence_vectors: SentenceVectors,
    question_vector: np.ndarray,
) -> Prepared:
    q = analyse_question(question)
    sents = candidate_sentences(passages)
    if sents:
        vecs = np.asarray(sentence_vectors([s.text for s in sents]), dtype=np.float32)
        sent_x = sentence_features(q, sents, vecs, np.asarray(question_vector, dtype=np.float32))
    else:
        sent_x = np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32)
    return Prepared(q, sents, sent_x)


def rank(
    prep: Prepared,
    sentence_model: Linear,
    top_sentences: int,
    spans_of: Callable[[int], SpanSet] | None = None,
) -> Analysis:
    """Score sentences, then collect the spans of the best ``top_sentences`` of them."""
    spans_of = spans_of or prep.spans_of
    scores = sentence_model.score(prep.sent_x)
    probs = softmax(scores)
    top = [int(i) for i in np.argsort(-scores, kind="stable")[:top_sentences]]
    span_sets, blocks, owners = [], [], []
    best = float(scores.max()) if scores.size else 0.0
    for position, i in enumerate(top):
        ss = spans_of(i)
        if ss.features.shape[0] == 0:
            continue
        extra = np.tile(
            [scores[i] - best, probs[i], 1.0 if position == 0 else 0.0], (ss.features.shape[0], 1)
        )
        span_sets.append((i, ss))
        blocks.append(np.hstack([ss.features, extra.astype(np.float32)]))
        owners.append(np.full(ss.features.shape[0], i, dtype=np.int64))
    span_x = (
        np.vstack(blocks) if blocks else np.zeros((0, len(SPAN_MODEL_FEATURES)), dtype=np.float32)
    )
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    return Analysis(prep.q, prep.sents, prep.sent_x, scores, probs, top, span_sets, span_x, owner)


@dataclass(frozen=True)
class Choice:
    """The chosen lead span, its sentence, an optional second cited sentence, and the features."""

    sentence: int
    second: int  # -1 when one sentence is cited
    lead_start: int  # char offsets into the chosen sentence's text
    lead_end: int
    conf_x: np.ndarray


def choose(an: Analysis, span_model: Linear, second_quote_ratio: float) -> Choice | None:
    if not an.sents:
        return None
    span_scores = span_model.score(an.span_x)
    span_probs = softmax(span_scores)
    if span_scores.size:
        best = int(np.argmax(span_scores))
        sentence = int(an.span_owner[best])
        offset = best - int(np.flatnonzero(an.span_owner == sentence)[0])
        ss = next(s for i, s in an.span_sets if i == sentence)
        lead = (int(ss.start[offset]), int(ss.end[offset]))
        words = int(ss.last[offset] - ss.first[offset] + 1)
        row = an.span_x[best]
    else:  # no span candidate anywhere (e.g. punctuation-only passages): cite the best sentence
        best, sentence, lead, words, row = 0, an.top[0], (0, 0), 0, np.zeros(0, dtype=np.float32)
    others = [i for i in an.top if i != sentence]
    runner = others[0] if others else -1
    second = -1
    if runner >= 0 and an.sent_probs[runner] >= second_quote_ratio * an.sent_probs[sentence]:
        second = runner
    conf_x = confidence_features(
        an.q, an.sents, an.sent_x, an.sent_probs, sentence, runner, span_probs, best, row, words
    )
    return Choice(sentence, second, lead[0], lead[1], conf_x)


def _lead_text(sent: SentenceCand, choice: Choice, qtype: str) -> str:
    text = sent.text
    lead = text[choice.lead_start : choice.lead_end].strip()
    if not lead:
        return ""
    before = text[: choice.lead_start].split()
    # Spans never start on a function word; a lead reads better with its article ("A national
    # carrier.") and, for dates and places, its preposition ("In 1982.").
    if before and before[-1].lower() in ("a", "an", "the"):
        lead = f"{before.pop()} {lead}"
    if qtype in ("when", "where") and before and before[-1].lower() in _LEAD_PREPOSITIONS:
        lead = f"{before[-1]} {lead}"
    lead = lead[0].upper() + lead[1:]
    return lead if lead.endswith((".", "!", "?")) else lead + "."


def _abstain(reason: str, confidence: float) -> Extracted:
    return Extracted(None, [], confidence, reason, "")


def answer(
    question: str,
    passages: Sequence[Passage],
    sentence_vectors: SentenceVectors,
    question_vector: np.ndarray,
    model: FittedModel,
) -> Extracted:
    """The cited answer to ``question`` from ``passages``, or a reasoned abstention.

    Odd text (one-letter tokens, punctuation only, any script) is handled, not caught: a property
    test feeds it arbitrary input. A bug here surfaces as an internal error, never as a refusal.
    """
    prep = prepare(question, passages, sentence_vectors, question_vector)
    if _counted_thing_absent(prep):
        # "How many tanks ...": no retrieved passage mentions tanks at all, so no figure can be
        # about them (on SQuAD dev this would refuse 0.1% of answerable questions).
        return _abstain("question_outside_corpus", 0.0)
    an = rank(prep, model.sentence, model.top_sentences)
    choice = choose(an, model.span, model.second_quote_ratio)
    if choice is None:
        return _abstain("no_evidence", 0.0)
    raw = float(model.confidence.score(choice.conf_x[None, :])[0])
    confidence = model.calibration(raw)
    if not math.isfinite(confidence):
        confidence = 0.0
    if confidence < model.threshold:
        coverage = float(choice.conf_x[CONF_FEATURES.index("ev_cov_rare")])
        outside = bool(an.q.terms) and coverage < _OUTSIDE_COVERAGE
        return _abstain("question_outside_corpus" if outside else "low_confidence", confidence)
    return render(an, choice, confidence, figures=asks_for_a_quantity(an.q))


def _counted_thing_absent(prep: Prepared) -> bool:
    q = prep.q
    if q.qtype != "how_many" or not q.head:
        return False
    counted = lemma_term(q.head)
    return bool(counted) and all(counted not in profile(s.text).terms for s in prep.sents)


def render(an: Analysis, choice: Choice, confidence: float, figures: bool = False) -> Extracted:
    """The answer as given: the lead, then the cited sentence(s) in document order.

    With ``figures`` (quantity questions), every other document's best sentence that gives a
    figure joins the citations when it is among the sentences the span model read (``an.top``),
    so figures that differ between sources are all shown, each with its source.
    """
    cited = [choice.sentence] + ([choice.second] if choice.second >= 0 else [])
    if figures:
        cited += _figures_elsewhere(an, cited)
    cited.sort(key=lambda i: (an.sents[i].passage.n, an.sents[i].start))
    quotes = [(an.sents[i].passage.n, an.sents[i].start, an.sents[i].end) for i in cited]
    lead = _lead_text(an.sents[choice.sentence], choice, an.q.qtype)
    body = " ".join(an.sents[i].text for i in cited)
    text = f"{lead} {body}" if lead else body
    return Extracted(lead or None, quotes, confidence, None, text)


def _figures_elsewhere(an: Analysis, cited: list[int]) -> list[int]:
    docs = {an.sents[i].passage.doc_id for i in cited}
    counted = lemma_term(an.q.head) if an.q.head else ""
    extra: list[int] = []
    for i in an.top:
        sent = an.sents[i]
        prof = profile(sent.text)
        # A figure about something else ("how many quokkas" next to troop numbers) is no answer.
        about = not counted or counted in prof.terms
        if sent.passage.doc_id not in docs and prof.has_number and about:
            docs.add(sent.passage.doc_id)
            extra.append(int(i))
    return extra


def load_model(path: Path) -> FittedModel:
    """Load the artifact and refuse one fitted on other features than this code computes."""
    model = FittedModel.load(path)
    model.check(SENTENCE_FEATURES, SPAN_MODEL_FEATURES, CONF_FEATURES)
    return model
