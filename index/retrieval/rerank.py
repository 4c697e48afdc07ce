"""Second-stage re-ranking of the fused top candidates with features that look inside chunks.

Rank fusion sees each chunk as one vector and one bag of words. The chunk that answers a question
usually has one sentence that says it, and it shares the question's rarer content words. For the
top ``depth`` fused candidates the re-ranker scores a small weighted sum of:

- ``prior``: the fused rank, linearly from 1 (first) to ``1/depth`` (last);
- ``coverage``: IDF-weighted share of the question's content words (stop words dropped,
  Snowball stemming) that occur in the chunk;
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
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from index.embedders.protocol import Embedder
from index.text.cleaning import looks_like_headline
from index.text.sentences import split_sentences
from index.text.words import content_terms, is_stopword, term, words

logger = logging.getLogger(__name__)

# Sentences of at most this many words without closing punctuation are headings.
_HEADING_MAX_WORDS = 14


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

    def sentence_vectors(self, sentences: Sequence[str]) -> np.ndarray:
        """Vectors of ``sentences`` through this re-ranker's cache."""
        if not sentences:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return self._sentences.get_many(self.embedder, sentences)

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
        for word in words(query):
            if not is_stopword(word):
                key = term(word)
                term_weight[key] = max(term_weight.get(key, 0.0), idf(word.casefold()))
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
            present = set(content_terms(cand.text))
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
        kept = [s for s in sentences if not looks_like_headline(s, _HEADING_MAX_WORDS)]
        return kept or sentences
