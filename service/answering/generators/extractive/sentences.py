"""Candidate sentences of the retrieved passages and their features against the question.

Each feature is a general signal (overlap, rarity, embedding cosine, retrieval rank, wanted answer
shape present); how much each counts is fitted (see ``proto/fit.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from index.text.sentences import split_sentences
from index.text.tokens import NEGATIONS, Token, is_month, is_year, tokenize
from service.answering.evidence import looks_like_instruction
from service.answering.generators.extractive.types import Passage, SentenceCand
from service.answering.question import QuestionInfo

# Causal connectives of English: a "why" is usually answered by a clause that has one.
_CAUSAL = frozenset(
    [
        "because",
        "since",
        "due",
        "so",
        "therefore",
        "thus",
        "hence",
        "order",
        "result",
        "led",
        "cause",
        "caused",
    ]
)
_MAX_SENTENCES = 60

_RAW = (
    "cov", "cov_rare", "cov_idf", "n_match", "n_miss_rare", "bigram", "cos", "cos_gap", "cos_rank1",
    "inv_rank", "pscore", "first_in_passage", "log_len", "shape", "names_cov", "ctx_gain",
    "heading", "passage_cov", "new_words", "neg_mismatch", "numbers_cov", "cov_prefix",
    "n_rare_match", "compact", "cos_ctx", "cos_passage",
)  # fmt: skip
# Each sentence is also compared with the best of its question's candidates.
_RELATIVE = ("cov_rare", "cov_idf", "bigram", "cos_ctx", "cov_prefix")
SENTENCE_FEATURES = (*_RAW, *(f"{n}_gap" for n in _RELATIVE), *(f"{n}_best" for n in _RELATIVE))


@functools.lru_cache(maxsize=50_000)
def cached_tokens(text: str) -> tuple[Token, ...]:
    """Tokens of a sentence; cached because the same chunks come back for related questions."""
    return tuple(tokenize(text))


def candidate_sentences(passages: Sequence[Passage]) -> list[SentenceCand]:
    """Distinct sentences, best-ranked passage first; overlapping chunks repeat sentences."""
    seen: set[tuple[str, int, int]] = set()
    out: list[SentenceCand] = []
    for p in sorted(passages, key=lambda p: p.rank):
        if looks_like_instruction(p.text):
            # A passage that addresses the answering system is an injection attempt: none of
            # its sentences is evidence, not even the ones that do not give orders themselves.
            continue
        spans = split_sentences(p.text) if p.text.strip() else []
        prev = ""
        for idx, (s, e) in enumerate(spans):
            key = (p.doc_id, p.start + s, p.start + e)
            text = p.text[s:e]
            usable = any(ch.isalnum() for ch in text)
            if key not in seen and usable:
                seen.add(key)
                out.append(SentenceCand(p, s, e, idx, prev))
            prev = text
            if len(out) >= _MAX_SENTENCES:
                return out
    return out


@dataclass(frozen=True)
class Profile:
    """What the features need of a sentence whatever the question: computed once per text."""

    tokens: tuple[Token, ...]
    terms: frozenset[str]
    seq: tuple[str, ...]  # content terms in order
    bigrams: frozenset[tuple[str, str]]
    prefixes: frozenset[str]  # 5-letter prefixes of the longer terms (a fuzzy match)
    cap_terms: frozenset[str]  # terms of capitalised words that do not open the sentence
    has_date: bool
    has_number: bool
    has_causal: bool
    negated: bool
    n_words: int
    heading: bool


@functools.lru_cache(maxsize=50_000)
def profile(text: str) -> Profile:
    toks = cached_tokens(text)
    seq = tuple(t.term for t in toks if t.term)
    first = next((k for k, t in enumerate(toks) if t.is_word), -1)
    n_words = sum(1 for t in toks if t.is_word)
    return Profile(
        tokens=toks,
        terms=frozenset(seq),
        seq=seq,
        bigrams=frozenset(pairwise(seq)),
        prefixes=frozenset(t[:5] for t in seq if len(t) >= 5),
        cap_terms=frozenset(
            t.term for k, t in enumerate(toks) if t.term and t.is_capitalised and k != first
        ),
        has_date=any(
            is_year(t) or is_month(t.low) or (t.is_number and t.low.endswith(("th", "s")))
            for t in toks
        ),
        has_number=any(t.is_number for t in toks),
        has_causal=any(t.low in _CAUSAL for t in toks),
        negated=any(t.low in NEGATIONS or t.low.endswith("n't") for t in toks),
        n_words=n_words,
        heading=not text.rstrip().endswith((".", "!", "?", '"', "”")) and n_words <= 14,
    )


def shape_present(p: Profile, q: QuestionInfo) -> bool:
    """Whether the sentence holds the shape of answer the question wants."""
    qterms = set(q.terms)
    if q.wants == "date":
        return p.has_date
    if q.wants == "number":
        return p.has_number
    if q.wants in ("person", "place"):
        return bool(p.cap_terms - qterms)
    if q.wants == "reason":
        return p.has_causal
    if q.wants == "entity":
        return bool(p.terms - qterms)
    return True


def sentence_features(
    q: QuestionInfo, sents: Sequence[SentenceCand], vectors: np.ndarray, qvec: np.ndarray
) -> np.ndarray:
    """One row of ``SENTENCE_FEATURES`` per sentence (``vectors``: unit sentence vectors)."""
    n = len(sents)
    if n == 0:
        return np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32)
    out = np.zeros((n, len(_RAW)), dtype=np.float32)
    cos = vectors @ qvec
    # Context vectors: with the previous sentence of the passage, and the passage's mean.
    index_of = {(s.passage.chunk_id, s.index): i for i, s in enumerate(sents)}
    ctx_vec = np.array(vectors, copy=True)
    pas_sum: dict[str, np.ndarray] = {}
    for i, s in enumerate(sents):
        j = index_of.get((s.passage.chunk_id, s.index - 1))
        if j is not None:
            ctx_vec[i] = vectors[i] + vectors[j]
        pas_sum[s.passage.chunk_id] = pas_sum.get(s.passage.chunk_id, 0) + vectors[i]
    norms = np.linalg.norm(ctx_vec, axis=1)
    cos_ctx = (ctx_vec @ qvec) / np.where(norms > 0, norms, 1.0)
    cos_pas = {}
    for k, v in pas_sum.items():
        nv = float(np.linalg.norm(v))
        cos_pas[k] = float(v @ qvec) / nv if nv > 0 else 0.0
    profs = [profile(s.text) for s in sents]
    df: dict[str, int] = {}
    for pr in profs:
        for t in pr.terms:
            df[t] = df.get(t, 0) + 1
    qterms = list(q.terms)
    rare = dict(zip(q.terms, q.weights, strict=True))
    idf = {t: math.log((n + 1) / (df.get(t, 0) + 0.5)) for t in qterms}
    tot_rare = sum(rare.values()) or 1.0
    tot_idf = sum(idf.values()) or 1.0
    qbigrams = set(pairwise(qterms))
    passage_terms: dict[str, set[str]] = {}
    for s, pr in zip(sents, profs, strict=True):
        passage_terms.setdefault(s.passage.chunk_id, set()).update(pr.terms)
    cmax = float(cos.max()) if cos.size else 0.0
    top1 = int(np.argmax(cos))
    for i, (s, pr) in enumerate(zip(sents, profs, strict=True)):
        tset = pr.terms
        matched = [t for t in qterms if t in tset]
        ctx = profile(s.prev_text).terms | tset
        ptset = passage_terms[s.passage.chunk_id]
        fuzzy = [t for t in qterms if t in tset or (len(t) >= 5 and t[:5] in pr.prefixes)]
        where = [k for k, t in enumerate(pr.seq) if t in rare]
        out[i] = (
            len(matched) / max(1, len(qterms)),
            sum(rare[t] for t in matched) / tot_rare,
            sum(idf[t] for t in matched) / tot_idf,
            min(len(matched), 8) / 8,
            sum(rare[t] for t in qterms if t not in tset and rare[t] > 0.5),
            len(qbigrams & pr.bigrams) / max(1, len(qbigrams)),
            cos[i],
            cos[i] - cmax,
            1.0 if top1 == i else 0.0,
            1.0 / s.passage.rank,
            s.passage.score,
            1.0 if s.index == 0 else 0.0,
            math.log1p(pr.n_words),
            1.0 if shape_present(pr, q) else 0.0,
            sum(1 for t in q.names if t in tset) / len(q.names) if q.names else 1.0,
            sum(rare[t] for t in qterms if t in ctx and t not in tset) / tot_rare,
            1.0 if pr.heading else 0.0,
            sum(rare[t] for t in qterms if t in ptset) / tot_rare,
            min(len(tset - set(qterms)), 20) / 20,
            1.0 if q.negated != pr.negated else 0.0,
            sum(1 for t in q.numbers if t in tset) / len(q.numbers) if q.numbers else 1.0,
            sum(rare[t] for t in fuzzy) / tot_rare,
            min(sum(1 for t in matched if rare[t] > 0.5), 4) / 4,
            len(where) / (where[-1] - where[0] + 1) if len(where) >= 2 else 0.0,
            cos_ctx[i],
            cos_pas[s.passage.chunk_id],
        )
    cols = [_RAW.index(r) for r in _RELATIVE]
    best = out[:, cols].max(axis=0)
    return np.hstack([out, out[:, cols] - best, (out[:, cols] >= best).astype(np.float32)])
