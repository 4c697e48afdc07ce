"""BM25 keyword store on bm25s, keyed by the same int64 row ids as the vector store.

bm25s has no incremental add or delete, so every write rebuilds the keyword index from the live
chunk texts, re-using the tokens of rows it already had. That keeps scores exact (IDF reflects
the live corpus) and is cheap at the sizes a single-node citeqa serves: measured on the shared
2-core machine, ~1-2 s per write at 10k chunks (of ~80 words), but ~25-50 s at 100k, where a
segmented keyword index would be the next step. Saved indexes load
with ``mmap=True``, so a large keyword index is paged in on demand.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexCorruptError
from index.storage.atomic import atomic_write_text, fsync_tree
from index.text.words import term, words

logger = logging.getLogger(__name__)

BM25_DIR = "bm25"
ROW_IDS_FILE = "row_ids.npy"
# Written into the store's metadata: an index tokenised another way is re-tokenised on load.
TOKENIZER_VERSION = "words+snowball-2"


class StaleKeywordStoreError(IndexCorruptError):
    """The stored keyword index was tokenised by another tokenizer version: rebuild it."""


class Bm25Tokenizer:
    """Terms of :mod:`index.text.words` (``stemming=False``: case-folded words), one-letter words
    dropped. No stop-word list: BM25's IDF already gives function words almost no weight, and
    keeping them measured as well or better (squad2 dev evidence@5 0.958 vs 0.957 with a list)."""

    def __init__(self, *, stemming: bool = True) -> None:
        self.stemming = stemming

    def __call__(self, text: str) -> list[str]:
        kept = [w for w in words(text) if len(w) > 1 or w.isdigit()]
        if self.stemming:
            return [term(w) for w in kept]
        return [w.casefold() for w in kept]


class Bm25Store:
    """BM25 (Lucene variant) over chunk texts; ``search`` returns (row id, score), best first."""

    def __init__(self, *, stemming: bool = True, k1: float = 1.2, b: float = 0.75) -> None:
        self.tokenize = Bm25Tokenizer(stemming=stemming)
        self.k1 = k1
        self.b = b
        self._bm25: Any = None
        self._row_ids = np.zeros(0, dtype=np.int64)
        self._pos: dict[int, int] = {}
        # Tokens per row, kept so the next rebuild only tokenises new rows (tokenising is about
        # half of a rebuild). Empty after load(): the first rebuild then tokenises everything.
        self._tokens: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self._row_ids)

    @classmethod
    def build(
        cls,
        row_ids: Sequence[int],
        texts: Sequence[str],
        *,
        stemming: bool = True,
        previous: Bm25Store | None = None,
    ) -> Bm25Store:
        """A new store over ``texts`` (one per row id).

        Rows already tokenised by ``previous`` (same row id means same text: row ids are never
        reused) are not tokenised again.
        """
        store = cls(stemming=stemming)
        reuse = (
            previous._tokens
            if previous is not None and previous.tokenize.stemming == stemming
            else {}
        )
        store._index(np.asarray(row_ids, dtype=np.int64), texts, reuse)
        return store

    def _index(
        self, row_ids: np.ndarray, texts: Sequence[str], reuse: dict[int, list[str]] | None = None
    ) -> None:
        if len(row_ids) != len(texts):
            raise ValueError("row_ids and texts differ in length")
        self._row_ids = row_ids
        self._pos = {int(r): i for i, r in enumerate(row_ids.tolist())}
        reuse = reuse or {}
        self._tokens = {
            r: reuse[r] if r in reuse else self.tokenize(t)
            for r, t in zip(row_ids.tolist(), texts, strict=True)
        }
        if not len(row_ids):
            self._bm25 = None
            return
        import bm25s

        # bm25s logs every build at DEBUG on its own logger; keep it to warnings.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        bm25 = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        bm25.index([self._tokens[r] for r in row_ids.tolist()], show_progress=False)
        self._bm25 = bm25

    def search(
        self, query: str, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` rows with a positive BM25 score for ``query``."""
        if self._bm25 is None or k <= 0:
            return []
        token_ids = self._bm25.get_tokens_ids(self.tokenize(query))
        if not token_ids:
            return []
        scores = np.asarray(self._bm25.get_scores_from_ids(token_ids), dtype=np.float32)
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            positions = [self._pos[int(r)] for r in allowed if int(r) in self._pos]
            mask[positions] = True
            scores = np.where(mask, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if not len(candidates):
            return []
        if len(candidates) > k:
            part = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[part]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(self._row_ids[i]), float(scores[i])) for i in order]

    def word_idf(self, word: str) -> float:
        """BM25 IDF of ``word`` (after this store's tokenising) over the live rows.

        A word that tokenises to nothing or is unseen counts as rare (document frequency 0).
        """
        n_docs = len(self._row_ids)
        tokens = self.tokenize(word)
        df = 0
        if tokens and self._bm25 is not None:
            token_id = self._bm25.vocab_dict.get(tokens[0])
            if token_id is not None:
                indptr = self._bm25.scores["indptr"]
                df = int(indptr[token_id + 1] - indptr[token_id])
        return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))

    def save(self, folder: Path) -> None:
        """Write the bm25s index and the row-id mapping under ``folder/bm25`` (fsynced)."""
        target = folder / BM25_DIR
        target.mkdir(parents=True, exist_ok=True)
        np.save(target / ROW_IDS_FILE, self._row_ids)
        if self._bm25 is not None:
            self._bm25.save(str(target), show_progress=False)
        meta = {
            "stemming": self.tokenize.stemming,
            "k1": self.k1,
            "b": self.b,
            "tokenizer": TOKENIZER_VERSION,
        }
        atomic_write_text(target / "citeqa_bm25.json", json.dumps(meta) + "\n")
        fsync_tree(target)

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> Bm25Store:
        """Load from ``folder/bm25``; with ``mmap`` the score matrix stays on disk until read."""
        target = folder / BM25_DIR
        try:
            meta = json.loads((target / "citeqa_bm25.json").read_text(encoding="utf-8"))
            if meta.get("tokenizer") != TOKENIZER_VERSION:
                raise StaleKeywordStoreError(
                    f"keyword store in {target} was tokenised by "
                    f"{meta.get('tokenizer') or 'an older tokenizer'}, not {TOKENIZER_VERSION}"
                )
            store = cls(stemming=bool(meta["stemming"]), k1=float(meta["k1"]), b=float(meta["b"]))
            store._row_ids = np.load(target / ROW_IDS_FILE)
            store._pos = {int(r): i for i, r in enumerate(store._row_ids.tolist())}
            if len(store._row_ids):
                import bm25s

                store._bm25 = bm25s.BM25.load(str(target), mmap=mmap, show_progress=False)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"cannot load keyword store from {target}: {exc}") from exc
        return store
