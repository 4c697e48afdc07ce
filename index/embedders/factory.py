"""``load_default_embedder``: the only module that imports every embedding backend."""

from __future__ import annotations

from typing import Literal

from index.embedders.protocol import Embedder


def load_default_embedder(kind: Literal["torch", "onnx"] = "torch") -> Embedder:
    """The packaged model, hash-verified: ``torch`` (sentence-transformers) or ``onnx``."""
    if kind == "torch":
        from index.embedders.torch_embedder import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder()
    if kind == "onnx":
        # The ONNX Runtime embedder (``onnx_embedder``) is imported only when asked for,
        # so the torch path never depends on onnxruntime.
        from index.embedders.onnx_embedder import load_onnx_embedder

        return load_onnx_embedder()
    raise ValueError(f"unknown embedder kind {kind!r}; expected 'torch' or 'onnx'")
