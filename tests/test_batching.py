"""MicroBatcher: concurrent embed_query calls share inferences and get their own vectors back."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from index.embedders.batching import MicroBatcher
from index.embedders.protocol import Embedder
from tests.fakes import HashingEmbedder


class SlowFakeEmbedder:
    """HashingEmbedder vectors, with a fixed cost per call so that callers pile up meanwhile."""

    def __init__(self, delay_s: float = 0.005, fail_on: str | None = None) -> None:
        self._inner = HashingEmbedder(dim=32)
        self.model_name = self._inner.model_name
        self.dim = self._inner.dim
        self.weights_sha256 = self._inner.weights_sha256
        self.max_seq_length = 256
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.batch_sizes: list[int] = []
        self.batches: list[list[str]] = []
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.batch_sizes.append(len(texts))
            self.batches.append(list(texts))
        time.sleep(self.delay_s)
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError(f"cannot embed {self.fail_on!r}")
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        vec: np.ndarray = self.embed_documents([text])[0]
        return vec


def _texts(n: int) -> list[str]:
    return [f"question {i} about troops number {i * 7} in region {i % 5}" for i in range(n)]


def test_batcher_is_an_embedder_with_the_inner_identity() -> None:
    fake = SlowFakeEmbedder(delay_s=0)
    with MicroBatcher(fake) as batcher:
        assert isinstance(batcher, Embedder)
        assert (batcher.model_name, batcher.dim, batcher.weights_sha256) == (
            fake.model_name,
            fake.dim,
            fake.weights_sha256,
        )
        docs = batcher.embed_documents(["a b", "c d"])
    assert docs.shape == (2, fake.dim)
    assert fake.batch_sizes == [2]  # documents bypass the queue


def test_concurrent_queries_are_coalesced_and_routed_back_correctly() -> None:
    fake = SlowFakeEmbedder(delay_s=0.01)
    texts = _texts(64)
    expected = HashingEmbedder(dim=32).embed_documents(texts)
    with MicroBatcher(fake, max_batch=16, max_wait_s=0.002) as batcher:
        start = threading.Barrier(16)

        def call(i: int) -> np.ndarray:
            if i < 16:
                start.wait()
            return batcher.embed_query(texts[i])

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(call, range(len(texts))))
        stats = batcher.stats()
    for i, vec in enumerate(results):
        assert vec.shape == (32,)
        np.testing.assert_allclose(vec, expected[i], atol=1e-6)
    assert sum(fake.batch_sizes) == len(texts)
    assert max(fake.batch_sizes) <= 16  # bounded
    assert len(fake.batch_sizes) < len(texts) / 2  # really batched
    assert stats.queries == len(texts)
    assert stats.mean_batch > 2


def test_a_lone_caller_is_not_delayed_by_the_window() -> None:
    fake = SlowFakeEmbedder(delay_s=0)
    with MicroBatcher(fake, max_wait_s=0.2) as batcher:
        batcher.embed_query("warm up")
        started = time.perf_counter()
        for text in _texts(5):
            batcher.embed_query(text)
        elapsed = time.perf_counter() - started
    # Five sequential calls with a 200 ms window would take >= 1 s if each one waited.
    assert elapsed < 0.5
    assert fake.batch_sizes == [1] * 6


def test_non_adaptive_window_collects_stragglers() -> None:
    fake = SlowFakeEmbedder(delay_s=0)
    with MicroBatcher(fake, max_wait_s=0.3, adaptive=False) as batcher:
        results: list[np.ndarray] = []

        def late() -> None:
            time.sleep(0.05)
            results.append(batcher.embed_query("late arrival"))

        thread = threading.Thread(target=late)
        thread.start()
        results.append(batcher.embed_query("first"))
        thread.join()
    assert fake.batch_sizes == [2]
    assert len(results) == 2


def test_an_error_reaches_every_caller_of_the_batch_and_the_batcher_survives() -> None:
    fake = SlowFakeEmbedder(delay_s=0.02, fail_on="poison")
    with MicroBatcher(fake, max_wait_s=0.01, adaptive=False) as batcher:
        barrier = threading.Barrier(4)

        def call(text: str) -> str:
            barrier.wait()
            try:
                batcher.embed_query(text)
            except ValueError as exc:
                return str(exc)
            return "ok"

        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(call, ["poison", "a", "b", "c"]))
        poisoned = [o for o in outcomes if o != "ok"]
        assert poisoned
        assert all("poison" in o for o in poisoned)
        # Everyone who shared the failed batch saw the error; the worker is still alive.
        failed_batch = next(b for b in fake.batches if "poison" in b)
        assert len(poisoned) == len(failed_batch)
        assert batcher.embed_query("after").shape == (32,)


def test_close_finishes_queued_calls_then_refuses_new_ones() -> None:
    fake = SlowFakeEmbedder(delay_s=0.02)
    batcher = MicroBatcher(fake, max_batch=2)
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(batcher.embed_query, t) for t in _texts(6)]
        time.sleep(0.005)
        batcher.close()
        vectors = [f.result(timeout=5) for f in futures]
    assert all(v.shape == (32,) for v in vectors)
    assert not any(t.is_alive() for t in batcher._threads)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.embed_query("too late")


def test_wrong_shape_from_embedder_is_reported_not_misrouted() -> None:
    class Truncating(SlowFakeEmbedder):
        def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
            return super().embed_documents(texts)[:1]

    fake = Truncating(delay_s=0.02)
    with MicroBatcher(fake, max_wait_s=0.05, adaptive=False) as batcher:
        barrier = threading.Barrier(3)

        def call(text: str) -> str:
            barrier.wait()
            try:
                batcher.embed_query(text)
            except ValueError as exc:
                return str(exc)
            return "ok"

        with ThreadPoolExecutor(max_workers=3) as pool:
            outcomes = list(pool.map(call, ["x", "y", "z"]))
    assert any("shape" in o for o in outcomes)


@pytest.mark.slow
@pytest.mark.parametrize(("variant", "min_cos"), [("fp32", 0.9999), ("int8", 0.985)])
def test_batched_onnx_vectors_match_single_encodes(
    onnx_cache_dir: Path, variant: str, min_cos: float
) -> None:
    from index.embedders.onnx_embedder import OnnxEmbedder

    embedder = OnnxEmbedder.from_cache(
        onnx_cache_dir, variant="fp32" if variant == "fp32" else "int8"
    )
    texts = [
        "Who signed the mutual defense pact?",
        "How many North Korean soldiers were sent to Russia?",
        "Where are the troops deployed?",
        "What did South Korea's intelligence service report?",
    ] * 4
    singles = np.stack([embedder.embed_query(t) for t in texts])
    with MicroBatcher(embedder, max_batch=8, max_wait_s=0.003, adaptive=False) as batcher:
        with ThreadPoolExecutor(max_workers=8) as pool:
            batched = np.stack(list(pool.map(batcher.embed_query, texts)))
        assert batcher.stats().max_batch > 1
    # fp32: padding is masked out, so a batched vector equals the single one. int8: dynamic
    # quantisation takes its activation range over the whole batch, so neighbours shift a vector
    # slightly (cosine ~0.99), the same order as the int8-vs-fp32 difference itself.
    cos = (singles * batched).sum(axis=1)
    assert cos.min() > min_cos
