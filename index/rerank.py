"""Second-stage re-ranking of the fused top candidates with features that look inside chunks.

Rank fusion sees each chunk as one vector and one bag of words. The chunk that answers a question
usually has one sentence that says it, and it shares the question's rarer content words. For the
top ``depth`` fused candidates the re-ranker scores a small weighted sum of:

- ``prior``: the fused rank, linearly from 1 (first) to ``1/depth`` (last);
- ``coverage``: IDF-weighted share of the question's content words (stop words dropped, light
  suffix stemming) that occur in the chunk;
- ``sentence``: the best cosine between the question and one of the chunk's sentences, headings
  left out (a section heading names a topic, so it matches many questions and answers none);
- ``chunk``: the cosine between the question and the whole chunk.

Weights were chosen on ``tests/data/retrieval_questions.jsonl`` from a grid, preferring a point
whose grid neighbours also score well, then checked unchanged on the evidence quotes of
``eval/gold.jsonl`` (held out). Measured with all-MiniLM-L6-v2 on seeds/, top-1 / top-3 / MRR:
dev 0.833/1.0/0.917 -> 0.933/1.0/0.961; gold 0.809/0.936/0.878 -> 0.872/0.957/0.922. Without
coverage gold falls to 0.787; without the sentence feature dev falls to 0.867; counting headings as
sentences costs both sets.

Sentence vectors are cached by sentence text, so a chunk costs one model call (~40 sentences for
10 candidates, ~150 ms on a busy 2-core machine) the first time it is a candidate and ~1 ms after.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from index.chunking import split_sentences
from index.embedding import Embedder

logger = logging.getLogger(__name__)

# English function words and question words: they carry no topic, and a question is full of them.
_STOPWORD_TEXT = """
    a an and are as at be but by for if in into is it no not of on or such that the their then
    there these they this to was will with what which who whom whose when where why how do does
    did done doing have has had having been being were am can could would should may might must
    shall i me my we our us you your he him his she her its them those than so too very just
    also any all each both either neither some other own same from about after before over under
    up down out off again further once here more most only few nor while during until against
    between through above below because according said say says one many much
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
# Adverb endings reduced to their adjective ("unanimously" -> "unanimous").
_ADVERBS: tuple[tuple[str, str], ...] = (
    ("ously", "ous"),
    ("ively", "ive"),
    ("fully", "ful"),
    ("ally", "al"),
    ("ently", "ent"),
    ("antly", "ant"),
    ("ately", "ate"),
)
_HEADING_MAX_WORDS = 14
_SENTENCE_END = (".", "!", "?", '"', "”", "’", "'", ":")


def _undouble(stem_: str) -> str:
    # "stopped" -> "stopp" -> "stop"; not for l/s/z, where doubling is part of the word.
    if len(stem_) >= 3 and stem_[-1] == stem_[-2] and stem_[-1] not in "aeioulsz":
        return stem_[:-1]
    return stem_


def stem(word: str) -> str:
    """A light suffix stemmer: plurals, -ed, -ing, adverbs; final -e and -y normalised.

    Both forms of a pair end up the same ("experience"/"experienced" -> "experienc",
    "country"/"countries" -> "countri"); the stem need not be a word.
    """
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl in _ADVERBS:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + repl
            break
    else:
        if word.endswith("sses"):
            word = word[:-2]
        elif word.endswith("ies") and len(word) > 4:
            word = word[:-3] + "y"
        elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        if word.endswith("eed"):
            pass
        elif word.endswith("ing") and len(word) >= 6 and _has_vowel(word[:-3]):
            word = _undouble(word[:-3])
        elif word.endswith("ed") and len(word) >= 5 and _has_vowel(word[:-2]):
            word = _undouble(word[:-2])
    if word.endswith("y") and len(word) > 3 and word[-2] not in "aeiou":
        word = word[:-1] + "i"
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _has_vowel(text: str) -> bool:
    return any(ch in "aeiouy" for ch in text)


def content_words(text: str) -> list[tuple[str, str]]:
    """``(word, term)`` for each content word: case-folded word and its stem (numbers as digits)."""
    out: list[tuple[str, str]] = []
    for word in _WORD.findall(text):
        low = word.casefold().replace("’", "'")
        if low in STOPWORDS or (len(low) < 2 and not low.isdigit()):
            continue
        out.append((low, low.replace(",", "") if low[0].isdigit() else stem(low)))
    return out


def analyse(text: str) -> list[str]:
    """Content terms of ``text``: case-folded words minus stop words, stemmed; numbers as digits."""
    return [term for _, term in content_words(text)]


def is_heading(sentence: str) -> bool:
    """A short line without closing punctuation: a title or section heading, not a statement."""
    text = sentence.rstrip()
    return not text.endswith(_SENTENCE_END) and len(text.split()) <= _HEADING_MAX_WORDS


@dataclass(frozen=True)
class RerankWeights:
    """Weights of the re-ranking features (see the module docstring)."""

    prior: float = 0.25
    coverage: float = 0.75
    sentence: float = 1.0
    chunk: float = 1.0


@dataclass(frozen=True)
class Candidate:
    """One fused candidate: its row id, text and the cosine of its chunk vector to the query."""

    row_id: int
    text: str
    chunk_cosine: float


class _SentenceVectors:
    """Bounded LRU of sentence vectors keyed by sentence text (thread-safe)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, embedder: Embedder, sentences: Sequence[str]) -> np.ndarray:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for s in sentences:
                vec = self._items.get(s)
                if vec is not None:
                    self._items.move_to_end(s)
                    found[s] = vec
        missing = list(dict.fromkeys(s for s in sentences if s not in found))
        if missing:
            # Encode outside the lock: it is the slow part and needs no shared state.
            vectors = embedder.embed_documents(missing)
            with self._lock:
                for s, vec in zip(missing, vectors, strict=True):
                    found[s] = vec
                    self._items[s] = vec
                    self._items.move_to_end(s)
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
        return np.stack([found[s] for s in sentences]).astype(np.float32, copy=False)


class FeatureReranker:
    """Re-orders the top fused candidates by a weighted sum of in-chunk features."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        weights: RerankWeights | None = None,
        depth: int = 10,
        cache_size: int = 20_000,
    ) -> None:
        self.embedder = embedder
        self.weights = weights or RerankWeights()
        self.depth = depth
        self._sentences = _SentenceVectors(cache_size)

    def rerank(
        self,
        query: str,
        query_vector: np.ndarray,
        candidates: Sequence[Candidate],
        idf: Callable[[str], float],
    ) -> list[tuple[int, float]]:
        """``(row id, score)`` for ``candidates`` (given best first), re-ordered best first.

        ``idf(word)`` weighs a (case-folded) question word by its rarity in the corpus.
        """
        if not candidates:
            return []
        w = self.weights
        term_weight: dict[str, float] = {}
        for word, term in content_words(query):
            term_weight[term] = max(term_weight.get(term, 0.0), idf(word))
        total = sum(term_weight.values())
        units = [self._statements(c.text) for c in candidates]
        flat = [s for unit in units for s in unit]
        sims = (
            self._sentences.get_many(self.embedder, flat) @ query_vector
            if w.sentence and flat
            else np.zeros(len(flat), dtype=np.float32)
        )
        scored: list[tuple[float, int, int]] = []
        pos = 0
        n = len(candidates)
        for i, (cand, unit) in enumerate(zip(candidates, units, strict=True)):
            present = set(analyse(cand.text))
            coverage = (
                sum(v for t, v in term_weight.items() if t in present) / total if total else 0.0
            )
            best = float(sims[pos : pos + len(unit)].max()) if unit else 0.0
            pos += len(unit)
            score = (
                w.prior * (1.0 - i / n)
                + w.coverage * coverage
                + w.sentence * best
                + w.chunk * cand.chunk_cosine
            )
            scored.append((score, -i, cand.row_id))
        scored.sort(reverse=True)
        return [(row, score) for score, _, row in scored]

    @staticmethod
    def _statements(text: str) -> list[str]:
        """The chunk's sentences without headings (all of them if every one looks like one)."""
        sentences = [text[s:e] for s, e in split_sentences(text)]
        kept = [s for s in sentences if not is_heading(s)]
        return kept or sentences
