"""The fake ``Embedder``: deterministic bag-of-words hashing, no model, no network, no torch."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

HASHING_MODEL_NAME = "citeqa/hashing-test"
_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """The fake ``Embedder``: deterministic bag-of-words hashing (no model, no torch).

    Texts sharing words get similar vectors, so retrieval tests behave sensibly.
    """

    def __init__(self, dim: int = 64, *, model_name: str = HASHING_MODEL_NAME) -> None:
        self.dim = dim
        self.model_name = model_name
        self.weights_sha256 = hashlib.sha256(f"{model_name}:{dim}".encode()).hexdigest()
        self.max_seq_length = 256
        self.calls = 0

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            h = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            slot = int.from_bytes(h[:4], "little") % self.dim
            sign = 1.0 if h[4] & 1 else -1.0
            vec[slot] += sign
        if not vec.any():
            vec[0] = 1.0
        return vec

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.stack([self._vector(t) for t in texts])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(vectors / norms, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        row: np.ndarray = self.embed_documents([text])[0]
        return row
