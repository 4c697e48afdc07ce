"""BM25 keyword store as immutable segments plus tombstones, keyed by the vector store's row ids.

A write never rebuilds the index: its new rows become one small segment, deleted rows become
tombstones, and segments are merged by a size policy (:data:`MERGE_FACTOR` segments of one size
tier become one). The BM25 statistics are global, not per segment: ``N``, the average length and
every term's document frequency count the live rows of all segments, and scores are computed at
query time from stored term frequencies (Lucene variant, as bm25s computed them before). So the
scores and the ranking after any sequence of adds and deletes equal those of a store built from
scratch over the live rows (``tests/test_keyword_segments.py`` checks this with hypothesis).

On disk (``folder/bm25/``) every segment is one memory-mappable file that never changes once
written; a new generation hard-links the segments it shares with the previous one and writes only
new segments, the vocabulary terms it added and its tombstone list. Segments load memory-mapped.
A store saved by the older bm25s format is re-tokenised on load (:class:`StaleKeywordStoreError`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from index.errors import IndexCorruptError
from index.storage.packed import read_arrays, write_arrays
from index.storage.segments import merge_group
from index.text.words import term, words

logger = logging.getLogger(__name__)

BM25_DIR = "bm25"
META_FILE = "citeqa_bm25.json"
DEAD_FILE = "dead.npy"
FORMAT = "segments-1"
# Written into the store's metadata: an index tokenised another way is re-tokenised on load.
TOKENIZER_VERSION = "words+snowball-2"
# Size policy (index.storage.segments): MERGE_FACTOR segments of one size tier become one.
MERGE_FACTOR = 8
MIN_SEGMENT = 64
# A segment whose rows are mostly tombstones is rewritten without them.
PURGE_RATIO = 0.5
# Vocabulary additions are kept as small files; past this many they are consolidated into one.
MAX_VOCAB_FILES = 32
_ARRAYS = ("rows", "lens", "ptr", "docs", "tfs")


class StaleKeywordStoreError(IndexCorruptError):
    """The stored keyword index was tokenised another way or in an older format: rebuild it."""


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


class _Segment:
    """Postings of some rows by global term id (CSR: ``ptr`` over terms, ``docs``/``tfs``).

    Immutable once made; ``home`` is the folder its files were last written to or read from, so
    the next save can hard-link them instead of writing them again.
    """

    def __init__(
        self,
        name: str,
        rows: np.ndarray,
        lens: np.ndarray,
        ptr: np.ndarray,
        docs: np.ndarray,
        tfs: np.ndarray,
        home: Path | None = None,
    ) -> None:
        self.name = name
        self.rows = rows
        self.lens = lens
        self.ptr = ptr
        self.docs = docs
        self.tfs = tfs
        self.home = home

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_tokens(cls, rows: Sequence[int], token_ids: Sequence[Sequence[int]]) -> _Segment:
        counts = [Counter(ids) for ids in token_ids]
        lens = np.array([len(ids) for ids in token_ids], dtype=np.int32)
        return cls._from_counts(np.asarray(rows, dtype=np.int64), lens, counts)

    @classmethod
    def _from_counts(
        cls, rows: np.ndarray, lens: np.ndarray, counts: Sequence[Counter[int]]
    ) -> _Segment:
        nnz = sum(len(c) for c in counts)
        terms = np.fromiter((t for c in counts for t in c), dtype=np.int64, count=nnz)
        tfs = np.fromiter((f for c in counts for f in c.values()), dtype=np.int32, count=nnz)
        docs = np.repeat(np.arange(len(counts), dtype=np.int32), [len(c) for c in counts])
        return cls.from_triples(rows, lens, terms, docs, tfs)

    @classmethod
    def from_triples(
        cls,
        rows: np.ndarray,
        lens: np.ndarray,
        terms: np.ndarray,
        docs: np.ndarray,
        tfs: np.ndarray,
    ) -> _Segment:
        order = np.lexsort((docs, terms))
        terms, docs, tfs = terms[order], docs[order], tfs[order]
        n_terms = int(terms.max()) + 1 if len(terms) else 0
        ptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=n_terms), out=ptr[1:])
        return cls(f"seg-{uuid.uuid4().hex[:12]}", rows, lens, ptr, docs, tfs)

    def posting_terms(self) -> np.ndarray:
        """The term id of every posting (postings are grouped by term)."""
        return np.repeat(np.arange(len(self.ptr) - 1, dtype=np.int64), np.diff(self.ptr))

    # -- files ----------------------------------------------------------------------------------

    def _file(self, folder: Path) -> Path:
        return folder / f"{self.name}.arrays"

    def save(self, folder: Path) -> None:
        """Hard-link the file from ``home`` when it is there, else write it."""
        if self.home == folder:
            return
        if self.home is not None:
            try:
                os.link(self._file(self.home), self._file(folder))
                self.home = folder
                return
            except OSError as exc:
                logger.debug("cannot link segment %s (%s); writing it", self.name, exc)
        write_arrays(
            self._file(folder), {part: np.asarray(getattr(self, part)) for part in _ARRAYS}
        )
        self.home = folder

    @classmethod
    def load(cls, folder: Path, name: str, *, mmap: bool) -> _Segment:
        arrays = read_arrays(folder / f"{name}.arrays", mmap=mmap)
        rows, lens, ptr, docs, tfs = (arrays[part] for part in _ARRAYS)
        return cls(name, rows, lens, ptr, docs, tfs, home=folder)


def _merge_segments(parts: Sequence[tuple[_Segment, np.ndarray]]) -> _Segment:
    """One new segment with the live rows of ``parts`` (segment, dead mask), in their order."""
    rows, lens, terms, docs, tfs = [], [], [], [], []
    offset = 0
    for seg, dead in parts:
        keep = ~np.asarray(dead, dtype=bool)
        new_pos = np.cumsum(keep) - 1 + offset
        posting_keep = keep[seg.docs]
        rows.append(np.asarray(seg.rows)[keep])
        lens.append(np.asarray(seg.lens)[keep])
        terms.append(seg.posting_terms()[posting_keep])
        docs.append(new_pos[np.asarray(seg.docs)[posting_keep]].astype(np.int32))
        tfs.append(np.asarray(seg.tfs)[posting_keep])
        offset += int(keep.sum())
    return _Segment.from_triples(
        np.concatenate(rows),
        np.concatenate(lens),
        np.concatenate(terms),
        np.concatenate(docs),
        np.concatenate(tfs),
    )


class Bm25Store:
    """BM25 (Lucene variant) over chunk texts; ``search`` returns (row id, score), best first.

    Stores are immutable: :meth:`updated` returns a new store sharing the unchanged segments, so
    readers of the old one are never disturbed.
    """

    def __init__(self, *, stemming: bool = True, k1: float = 1.2, b: float = 0.75) -> None:
        self.tokenize = Bm25Tokenizer(stemming=stemming)
        self.k1 = k1
        self.b = b
        self._terms: list[str] = []
        self._vocab: dict[str, int] = {}
        self._vocab_files: tuple[tuple[str, int], ...] = ()  # (file name, terms in it)
        self._df = np.zeros(0, dtype=np.int64)
        self._segments: tuple[_Segment, ...] = ()
        self._dead: tuple[np.ndarray, ...] = ()  # per segment: True where the row is deleted
        self._where: dict[int, tuple[int, int]] = {}  # live row id -> (segment, position)
        self._total_len = 0
        self._norms: dict[int, np.ndarray] = {}  # per segment, for the current average length
        self._vocab_home: dict[str, Path] = {}  # vocabulary file -> folder it was last saved in

    def __len__(self) -> int:
        return len(self._where)

    @property
    def n_segments(self) -> int:
        return len(self._segments)

    @classmethod
    def build(
        cls, row_ids: Sequence[int], texts: Sequence[str], *, stemming: bool = True
    ) -> Bm25Store:
        """A new store over ``texts`` (one per row id), from scratch, as one segment."""
        return cls(stemming=stemming).updated(row_ids, texts, ())

    # -- writes ---------------------------------------------------------------------------------

    def updated(
        self, add_rows: Sequence[int], add_texts: Sequence[str], remove_rows: Iterable[int]
    ) -> Bm25Store:
        """A new store with ``remove_rows`` deleted (unknown ids ignored) and the rows added.

        Added row ids must be new (row ids are never reused). Costs the tokenising of the new
        texts plus work proportional to the segments touched, not to the corpus.
        """
        if len(add_rows) != len(add_texts):
            raise ValueError("row ids and texts differ in length")
        new = self._copy()
        new._remove([int(r) for r in remove_rows])
        if len(add_rows):
            new._add([int(r) for r in add_rows], add_texts)
        new._apply_merge_policy()
        return new

    def merged(self) -> Bm25Store:
        """A new store with every live row in one segment (Lucene's force-merge); same scores."""
        new = self._copy()
        if new._segments:
            new._merge(list(range(len(new._segments))))
        return new

    def _copy(self) -> Bm25Store:
        new = Bm25Store(stemming=self.tokenize.stemming, k1=self.k1, b=self.b)
        new._terms = self._terms  # append-only: copied on first growth (see _add)
        new._vocab = self._vocab
        new._vocab_files = self._vocab_files
        new._df = self._df
        new._segments = self._segments
        new._dead = self._dead
        new._where = self._where
        new._total_len = self._total_len
        new._vocab_home = self._vocab_home
        return new

    def _remove(self, rows: list[int]) -> None:
        hit = [(r, self._where[r]) for r in rows if r in self._where]
        if not hit:
            return
        self._where = dict(self._where)
        self._df = self._df.copy()
        by_segment: dict[int, list[int]] = {}
        for row, (seg_at, at) in hit:
            del self._where[row]
            by_segment.setdefault(seg_at, []).append(at)
        dead = list(self._dead)
        for seg_index, positions in by_segment.items():
            seg = self._segments[seg_index]
            pos = np.asarray(positions, dtype=np.int64)
            mask = dead[seg_index].copy()
            mask[pos] = True
            dead[seg_index] = mask
            # Each posting of a deleted row lowers its term's document frequency by one.
            gone = np.isin(np.asarray(seg.docs), pos)
            np.subtract.at(self._df, seg.posting_terms()[gone], 1)
            self._total_len -= int(np.asarray(seg.lens)[pos].sum())
        self._dead = tuple(dead)

    def _add(self, rows: list[int], texts: Sequence[str]) -> None:
        if any(r in self._where for r in rows) or len(set(rows)) != len(rows):
            raise ValueError("row ids must be new")
        tokens = [self.tokenize(t) for t in texts]
        fresh = sorted({t for toks in tokens for t in toks if t not in self._vocab})
        if fresh:
            self._terms = [*self._terms, *fresh]
            self._vocab = dict(self._vocab)
            start = len(self._vocab)
            self._vocab.update((t, start + i) for i, t in enumerate(fresh))
            self._vocab_files = (
                *self._vocab_files,
                (f"vocab-{uuid.uuid4().hex[:12]}.txt", len(fresh)),
            )
        segment = _Segment.from_tokens(rows, [[self._vocab[t] for t in toks] for toks in tokens])
        df = np.zeros(len(self._terms), dtype=np.int64)
        df[: len(self._df)] = self._df
        df[: len(segment.ptr) - 1] += np.diff(segment.ptr)
        self._df = df
        self._total_len += int(segment.lens.sum())
        self._where = dict(self._where)
        index = len(self._segments)
        self._where.update((r, (index, p)) for p, r in enumerate(rows))
        self._segments = (*self._segments, segment)
        self._dead = (*self._dead, np.zeros(len(rows), dtype=bool))

    def _apply_merge_policy(self) -> None:
        while True:
            group = self._merge_group()
            if not group:
                return
            self._merge(group)

    def _merge_group(self) -> list[int]:
        sizes = []
        for i, (seg, dead) in enumerate(zip(self._segments, self._dead, strict=True)):
            live = len(seg) - int(dead.sum())
            if live and len(seg) >= MIN_SEGMENT and live < PURGE_RATIO * len(seg):
                return [i]  # rewrite a mostly deleted segment without its tombstones
            sizes.append(live)
        return merge_group(sizes, factor=MERGE_FACTOR, min_size=MIN_SEGMENT)

    def _merge(self, members: list[int]) -> None:
        parts = [(self._segments[i], self._dead[i]) for i in members]
        live = sum(len(s) - int(d.sum()) for s, d in parts)
        keep = [i for i in range(len(self._segments)) if i not in set(members)]
        segments = [self._segments[i] for i in keep]
        dead = [self._dead[i] for i in keep]
        if live:
            merged = _merge_segments(parts)
            segments.append(merged)
            dead.append(np.zeros(len(merged), dtype=bool))
        self._segments = tuple(segments)
        self._dead = tuple(dead)
        self._where = {
            int(r): (si, p)
            for si, (seg, d) in enumerate(zip(self._segments, self._dead, strict=True))
            for p, r in enumerate(np.asarray(seg.rows).tolist())
            if not d[p]
        }

    # -- reads ----------------------------------------------------------------------------------

    def _avg_len(self) -> float:
        return self._total_len / len(self._where) if self._where else 0.0

    def _norm(self, index: int) -> np.ndarray:
        """``k1 * (1 - b + b * dl / avgdl)`` for each row of segment ``index``."""
        norm = self._norms.get(index)
        if norm is None:
            lens = np.asarray(self._segments[index].lens, dtype=np.float64)
            avg = self._avg_len() or 1.0  # every live row empty: nothing can match anyway
            norm = self.k1 * ((1 - self.b) + self.b * lens / avg)
            self._norms[index] = norm
        return norm

    def _idf(self, df: int | np.ndarray) -> np.ndarray:
        n = len(self._where)
        return np.log(1.0 + (n - np.asarray(df, dtype=np.float64) + 0.5) / (df + 0.5))

    def search(
        self, query: str, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` rows with a positive BM25 score for ``query``; ties by row id."""
        if not self._where or k <= 0:
            return []
        # Repeated query terms count once per occurrence, as they did with bm25s.
        term_ids = [self._vocab[t] for t in self.tokenize(query) if t in self._vocab]
        return self._top(term_ids, k, allowed)

    def rows_sharing_rare_terms(self, text: str, k: int, n_terms: int = 32) -> list[int]:
        """Up to ``k`` rows ranked by BM25 for ``text`` restricted to its ``n_terms`` rarest
        terms (each counted as often as it occurs): the candidates for being a near-copy of it,
        found without reading the whole corpus or the longest posting lists."""
        counts = Counter(self._vocab[t] for t in self.tokenize(text) if t in self._vocab)
        rare = sorted((t for t in counts if self._df[t] > 0), key=lambda t: (self._df[t], t))
        query = [t for t in rare[:n_terms] for _ in range(counts[t])]
        return [row for row, _ in self._top(query, k, None)]

    def _top(
        self, term_ids: list[int], k: int, allowed: Sequence[int] | None
    ) -> list[tuple[int, float]]:
        if not term_ids or not self._where or k <= 0:
            return []
        idf = self._idf(self._df[term_ids])
        allowed_set = {int(r) for r in allowed} if allowed is not None else None
        found: list[tuple[int, float]] = []
        for index, seg in enumerate(self._segments):
            scores = self._segment_scores(index, seg, term_ids, idf)
            if scores is None:
                continue
            scores[self._dead[index]] = 0.0
            if allowed_set is not None:
                mask = np.isin(np.asarray(seg.rows), np.fromiter(allowed_set, dtype=np.int64))
                scores[~mask] = 0.0
            candidates = np.flatnonzero(scores > 0)
            if len(candidates) > k:
                # Keep every row tied with the k-th score: the global order breaks ties by id.
                kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
                candidates = candidates[scores[candidates] >= kth]
            rows = np.asarray(seg.rows)
            found.extend((int(rows[i]), float(scores[i])) for i in candidates)
        found.sort(key=lambda hit: (-hit[1], hit[0]))
        return found[:k]

    def _segment_scores(
        self, index: int, seg: _Segment, term_ids: list[int], idf: np.ndarray
    ) -> np.ndarray | None:
        scores: np.ndarray | None = None
        n_terms = len(seg.ptr) - 1
        for term_id, weight in zip(term_ids, idf.tolist(), strict=True):
            if term_id >= n_terms:
                continue
            start, stop = int(seg.ptr[term_id]), int(seg.ptr[term_id + 1])
            if start == stop:
                continue
            if scores is None:
                scores = np.zeros(len(seg), dtype=np.float64)
            docs = np.asarray(seg.docs[start:stop])
            tf = np.asarray(seg.tfs[start:stop], dtype=np.float64)
            scores[docs] += weight * (tf / (self._norm(index)[docs] + tf))
        return scores

    def word_idf(self, word: str) -> float:
        """BM25 IDF of ``word`` (after this store's tokenising) over the live rows.

        A word that tokenises to nothing or is unseen counts as rare (document frequency 0).
        """
        tokens = self.tokenize(word)
        term_id = self._vocab.get(tokens[0]) if tokens else None
        df = int(self._df[term_id]) if term_id is not None else 0
        return math.log(1.0 + (len(self._where) - df + 0.5) / (df + 0.5))

    # -- persistence ----------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the store under ``folder/bm25``, linking the files it already wrote; the commit
        fsyncs the generation folder before making it live."""
        target = folder / BM25_DIR
        target.mkdir(parents=True, exist_ok=True)
        self._save_vocab(target)
        for seg in self._segments:
            seg.save(target)
        dead = [
            np.asarray(seg.rows)[mask] for seg, mask in zip(self._segments, self._dead, strict=True)
        ]
        np.save(target / DEAD_FILE, np.concatenate(dead) if dead else np.zeros(0, np.int64))
        meta = {
            "format": FORMAT,
            "stemming": self.tokenize.stemming,
            "k1": self.k1,
            "b": self.b,
            "tokenizer": TOKENIZER_VERSION,
            "vocab": [list(v) for v in self._vocab_files],
            "segments": [seg.name for seg in self._segments],
        }
        (target / META_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")

    def _save_vocab(self, target: Path) -> None:
        if len(self._vocab_files) > MAX_VOCAB_FILES:
            self._vocab_files = ((f"vocab-{uuid.uuid4().hex[:12]}.txt", len(self._terms)),)
        start = 0
        for name, count in self._vocab_files:
            path = target / name
            home = self._vocab_home.get(name)
            if not path.exists():
                if home is not None and (home / name).exists():
                    try:
                        os.link(home / name, path)
                    except OSError:
                        shutil.copyfile(home / name, path)
                else:
                    path.write_text(
                        "".join(f"{t}\n" for t in self._terms[start : start + count]),
                        encoding="utf-8",
                    )
            start += count
        self._vocab_home = dict.fromkeys((n for n, _ in self._vocab_files), target)

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> Bm25Store:
        """Load from ``folder/bm25``; with ``mmap`` the postings stay on disk until read."""
        target = folder / BM25_DIR
        try:
            meta = json.loads((target / META_FILE).read_text(encoding="utf-8"))
            if meta.get("tokenizer") != TOKENIZER_VERSION or meta.get("format") != FORMAT:
                raise StaleKeywordStoreError(
                    f"keyword store in {target} is in format {meta.get('format') or 'bm25s'} "
                    f"tokenised by {meta.get('tokenizer') or 'an older tokenizer'}, "
                    f"not {FORMAT} / {TOKENIZER_VERSION}"
                )
            store = cls(stemming=bool(meta["stemming"]), k1=float(meta["k1"]), b=float(meta["b"]))
            terms: list[str] = []
            for name, count in meta["vocab"]:
                chunk = (target / name).read_text(encoding="utf-8").split("\n")[:-1]
                if len(chunk) != int(count):
                    raise ValueError(f"{name} holds {len(chunk)} terms, expected {count}")
                terms.extend(chunk)
            store._terms = terms
            store._vocab = {t: i for i, t in enumerate(terms)}
            store._vocab_files = tuple((str(n), int(c)) for n, c in meta["vocab"])
            store._vocab_home = dict.fromkeys((n for n, _ in store._vocab_files), target)
            store._segments = tuple(_Segment.load(target, n, mmap=mmap) for n in meta["segments"])
            dead_rows = np.load(target / DEAD_FILE)
            store._dead = tuple(np.isin(np.asarray(s.rows), dead_rows) for s in store._segments)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"cannot load keyword store from {target}: {exc}") from exc
        store._recount()
        return store

    def _recount(self) -> None:
        """Global statistics (document frequencies, lengths, row positions) from the segments."""
        df = np.zeros(len(self._terms), dtype=np.int64)
        where: dict[int, tuple[int, int]] = {}
        total = 0
        for index, (seg, dead) in enumerate(zip(self._segments, self._dead, strict=True)):
            live_postings = ~dead[np.asarray(seg.docs)]
            terms = seg.posting_terms()[live_postings]
            df[: len(seg.ptr) - 1] += np.bincount(terms, minlength=len(seg.ptr) - 1)
            total += int(np.asarray(seg.lens)[~dead].sum())
            rows = np.asarray(seg.rows).tolist()
            where.update((rows[p], (index, p)) for p in np.flatnonzero(~dead).tolist())
        self._df = df
        self._where = where
        self._total_len = total
