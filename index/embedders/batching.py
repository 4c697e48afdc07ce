"""Micro-batching of concurrent query embeddings.

Under load, many request threads each want one short vector. One batched inference of n
queries costs far less than n single ones (per-call overhead dominates at ~10 tokens), so
:class:`MicroBatcher` queues ``embed_query`` calls, lets a worker take everything queued (waiting a
millisecond or two for stragglers), runs ``embed_documents`` once and hands each caller its row.

It wraps any :class:`~index.embedders.protocol.Embedder` and is one itself, so the index and
the pipeline need not know it is there::

    with MicroBatcher(OnnxEmbedder.from_cache()) as embedder:
        index = CorpusIndex.open(path, embedder)

A lone caller is not delayed: the wait window applies only when requests are arriving together
(more than one queued, or the previous batch held more than one).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np

from index.embedders.protocol import Embedder

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: np.ndarray | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class BatchStats:
    """Counters since start: how many calls were coalesced into how many inferences."""

    queries: int
    batches: int
    max_batch: int

    @property
    def mean_batch(self) -> float:
        return self.queries / self.batches if self.batches else 0.0


class MicroBatcher:
    """An Embedder whose ``embed_query`` calls from many threads share batched inferences."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.0015,
        workers: int = 1,
        adaptive: bool = True,
    ) -> None:
        if max_batch < 1 or workers < 1 or max_wait_s < 0:
            raise ValueError("max_batch and workers must be >= 1 and max_wait_s >= 0")
        self.inner = embedder
        self.model_name = embedder.model_name
        self.dim = embedder.dim
        self.weights_sha256 = embedder.weights_sha256
        self.max_seq_length = embedder.max_seq_length
        self.variant: str = str(getattr(embedder, "variant", "unknown"))
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.adaptive = adaptive
        self._queue: collections.deque[_Pending] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._last_batch = 1
        self._queries = 0
        self._batches = 0
        self._max_seen = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"citeqa-embed-batch-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- Embedder protocol ----------------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        # Document batches are already batched; queueing them would only delay queries.
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        item = _Pending(text)
        with self._cond:
            if self._closed:
                raise RuntimeError("MicroBatcher is closed")
            self._queue.append(item)
            self._cond.notify()
        item.done.wait()
        if item.error is not None:
            raise item.error
        assert item.vector is not None
        return item.vector

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self, timeout_s: float = 5.0) -> None:
        """Stops accepting calls, finishes the queued ones, and joins the workers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stats(self) -> BatchStats:
        with self._cond:
            return BatchStats(self._queries, self._batches, self._max_seen)

    # -- worker ---------------------------------------------------------------------------------

    def _take_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None  # closed and drained
            busy = len(self._queue) > 1 or self._last_batch > 1
            if self.max_wait_s > 0 and (busy or not self.adaptive):
                deadline = time.monotonic() + self.max_wait_s
                while len(self._queue) < self.max_batch and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            n = min(len(self._queue), self.max_batch)
            batch = [self._queue.popleft() for _ in range(n)]
            self._last_batch = n
            self._queries += n
            self._batches += 1
            self._max_seen = max(self._max_seen, n)
            if self._queue:
                # More than one batch's worth waiting: let another worker start on it.
                self._cond.notify()
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            try:
                vectors = self.inner.embed_documents([p.text for p in batch])
                if vectors.shape != (len(batch), self.dim):
                    raise ValueError(
                        f"embedder returned shape {vectors.shape} for {len(batch)} texts"
                    )
                for i, pending in enumerate(batch):
                    pending.vector = np.array(vectors[i], dtype=np.float32, copy=True)
            except BaseException as exc:  # every waiter must wake up, whatever went wrong
                logger.debug("batched embedding of %d queries failed: %s", len(batch), exc)
                for pending in batch:
                    pending.error = exc
            finally:
                for pending in batch:
                    pending.done.set()
