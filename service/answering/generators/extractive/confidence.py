"""Features of a chosen answer that tell whether it is right, or whether the question has none.

SQuAD 2.0's unanswerable questions are written from a real sentence with one thing changed (a
name, a number, a negation, an antonym, a swapped entity), so beyond "how well does the best
sentence match" these features look for what the question says and the evidence does not: rare
question words missing from the cited sentence, whether they occur elsewhere in the evidence (an
entity swapped in from another sentence) or nowhere, names and numbers missing, negation mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from service.answering.generators.extractive.sentences import SENTENCE_FEATURES, profile
from service.answering.generators.extractive.spans import SPAN_FEATURES
from service.answering.generators.extractive.types import SentenceCand
from service.answering.question import QTYPES, QuestionInfo

# Sentence features of the cited sentence passed straight through.
_FROM_SENTENCE = (
    "cov_rare", "cov_idf", "cos", "cos_ctx", "n_miss_rare", "names_cov", "numbers_cov",
    "neg_mismatch", "shape", "cov_prefix", "bigram", "inv_rank", "passage_cov", "compact",
)  # fmt: skip
_KINDS = ("name", "number", "head", "other")
_WHERE = ("ctx", "passage", "elsewhere", "nowhere")
CONF_FEATURES = (
    "sent_prob", "sent_margin", "span_prob", "span_margin", "span_q_frac", "span_words",
    *(f"s_{n}" for n in _FROM_SENTENCE),
    "miss_max_rare", "miss_n", "miss_in_passage", "miss_elsewhere", "miss_nowhere",
    "names_nowhere", "numbers_nowhere", "ev_cov_rare", "q_len", "q_negated", "n_sentences",
    "top_cos", "second_sent_prob", "same_passage_2nd",
    *(f"q_{t}" for t in QTYPES),
    *(f"miss_{k}_{w}" for k in _KINDS for w in _WHERE),
    "fuzzy_only", "ctx_only", "n_missing_1", "n_missing_2plus", "copied_run", "lead_shape",
    "number_conflict", "name_conflict", "degree_conflict",
)  # fmt: skip
# Which span shapes satisfy each wanted answer shape (see spans.SPAN_FEATURES crosses).
_WANTED_SHAPES: dict[str, tuple[str, ...]] = {
    "date": ("year", "month", "ordinal"), "number": ("num", "percent"), "person": ("cap",),
    "place": ("cap",), "reason": ("plain",), "manner": ("plain",), "entity": ("plain", "cap"),
}  # fmt: skip
_ORDINALS = frozenset(["first", "second", "third", "fourth", "fifth", "last", "earliest", "latest"])
_SENT_COL = {n: SENTENCE_FEATURES.index(n) for n in _FROM_SENTENCE}


def confidence_features(
    q: QuestionInfo,
    sents: Sequence[SentenceCand],
    sent_x: np.ndarray,
    sent_probs: np.ndarray,
    chosen: int,
    runner_up: int,
    span_probs: np.ndarray,
    span_best: int,
    span_row: np.ndarray,
    span_words: int,
) -> np.ndarray:
    """One row of ``CONF_FEATURES`` for the answer citing sentence ``chosen``."""
    cited = set(profile(sents[chosen].text).terms)
    passage_terms: set[str] = set()
    evidence: set[str] = set()
    for s in sents:
        ts = profile(s.text).terms
        evidence |= ts
        if s.passage.chunk_id == sents[chosen].passage.chunk_id:
            passage_terms |= ts
    rare = dict(zip(q.terms, q.weights, strict=True))
    missing = [t for t in q.terms if t not in cited]
    miss_rare = [rare[t] for t in missing]
    tot = sum(rare.values()) or 1.0
    sp = np.sort(span_probs)[::-1] if span_probs.size else np.zeros(2)
    srt = np.sort(sent_probs)[::-1]
    row = [
        float(sent_probs[chosen]),
        float(srt[0] - (srt[1] if srt.size > 1 else 0.0)),
        float(span_probs[span_best]) if span_probs.size else 0.0,
        float(sp[0] - (sp[1] if sp.size > 1 else 0.0)),
        float(span_row[3]) if span_row.size else 0.0,  # the span's share of question words
        min(span_words, 10) / 10,
        *(float(sent_x[chosen, c]) for c in _SENT_COL.values()),
        max(miss_rare, default=0.0),
        min(len(missing), 6) / 6,
        sum(rare[t] for t in missing if t in passage_terms) / tot,
        sum(rare[t] for t in missing if t in evidence and t not in passage_terms) / tot,
        sum(rare[t] for t in missing if t not in evidence) / tot,
        float(sum(1 for t in q.names if t not in evidence)),
        float(sum(1 for t in q.numbers if t not in evidence)),
        sum(rare[t] for t in q.terms if t in evidence) / tot,
        min(len(q.terms), 12) / 12,
        1.0 if q.negated else 0.0,
        min(len(sents), 60) / 60,
        float(sent_x[:, SENTENCE_FEATURES.index("cos")].max()),
        float(sent_probs[runner_up]) if runner_up >= 0 else 0.0,
        1.0
        if runner_up >= 0 and sents[runner_up].passage.chunk_id == sents[chosen].passage.chunk_id
        else 0.0,
        *(1.0 if q.qtype == t else 0.0 for t in QTYPES),
    ]
    row += _missing_profile(q, sents[chosen], cited, passage_terms, evidence)
    row.append(_copied_run(q, sents[chosen]))
    cols = [SPAN_FEATURES.index(f"{q.wants}*{shape}") for shape in _WANTED_SHAPES[q.wants]]
    row.append(float(max(span_row[c] for c in cols)) if span_row.size else 0.0)
    row += _conflicts(q, sents[chosen])
    return np.asarray(row, dtype=np.float32)


def _degree_words(terms: set[str] | frozenset[str], words: Sequence[str]) -> set[str]:
    # Superlatives and ordinals ("oldest", "first"): swapping one for another is a classic way to
    # make a question unanswerable from the sentence it copies.
    return {w for w in words if (len(w) > 4 and w.endswith("est")) or w in _ORDINALS}


def _conflicts(q: QuestionInfo, sent: SentenceCand) -> list[float]:
    """The question has a number / name / degree word the sentence lacks, while the sentence has
    another one in its place (a swapped value rather than a paraphrase)."""
    p = profile(sent.text)
    qterms = set(q.terms)
    q_nums = {t for t in q.numbers if t not in p.terms}
    s_nums = {t.term for t in p.tokens if t.is_number and t.term not in qterms}
    q_names = {t for t in q.names if t not in p.terms}
    s_names = set(p.cap_terms) - qterms
    q_low = [t.low for t in q.tokens if t.is_word]
    s_low = [t.low for t in p.tokens if t.is_word]
    q_deg = _degree_words(qterms, q_low) - set(s_low)
    s_deg = _degree_words(p.terms, s_low) - set(q_low)
    return [
        1.0 if q_nums and s_nums else 0.0,
        1.0 if q_names and s_names else 0.0,
        1.0 if q_deg and s_deg else 0.0,
    ]


def _copied_run(q: QuestionInfo, sent: SentenceCand) -> float:
    """Longest run of question terms that the sentence repeats in the same order, as a share:
    questions written to be unanswerable tend to copy their source sentence."""
    qseq = list(q.terms)
    sseq = profile(sent.text).seq
    if not qseq or not sseq:
        return 0.0
    best = 0
    prev = [0] * (len(sseq) + 1)
    for a in qseq:
        cur = [0] * (len(sseq) + 1)
        for j, b in enumerate(sseq, start=1):
            if a == b:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best / len(qseq)


def _missing_profile(
    q: QuestionInfo,
    cited_sent: SentenceCand,
    cited: set[str],
    passage_terms: set[str],
    evidence: set[str],
) -> list[float]:
    """Rarity mass of question words missing from the cited sentence, by kind and by where they
    do occur: the previous sentence (a coreference), the passage, elsewhere, nowhere."""
    ctx = profile(cited_sent.prev_text).terms
    prefixes = {t[:5] for t in cited if len(t) >= 5}
    head = q.head[:4]
    names, numbers = set(q.names), set(q.numbers)
    mass = {(k, w): 0.0 for k in _KINDS for w in _WHERE}
    fuzzy = ctx_only = missing = 0
    for term, weight in zip(q.terms, q.weights, strict=True):
        if term in cited:
            continue
        if len(term) >= 5 and term[:5] in prefixes:
            fuzzy += 1
            continue
        missing += 1
        kind = (
            "name"
            if term in names
            else "number"
            if term in numbers
            else "head"
            if head and term.startswith(head)
            else "other"
        )
        where = (
            "ctx"
            if term in ctx
            else "passage"
            if term in passage_terms
            else "elsewhere"
            if term in evidence
            else "nowhere"
        )
        ctx_only += where == "ctx"
        mass[(kind, where)] += weight
    return [
        *(min(mass[(k, w)], 2.0) for k in _KINDS for w in _WHERE),
        min(fuzzy, 3) / 3,
        min(ctx_only, 3) / 3,
        1.0 if missing == 1 else 0.0,
        1.0 if missing >= 2 else 0.0,
    ]
