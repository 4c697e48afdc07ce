"""all-MiniLM-L6-v2 through ONNX Runtime: the fast query encoder of the serving path.

The ONNX files are made on this machine from the hash-verified packaged weights by
:mod:`index.embedders.onnx_export` and cached; this module only tokenises (``tokenizers``),
runs the session and mean-pools in numpy, so importing it never imports torch.

Index compatibility: documents are usually embedded by :class:`SentenceTransformerEmbedder`
(torch fp32). This embedder is the same model and weights (its ONNX graph is derived from the
verified ``model.safetensors``), so it reports the same ``model_name`` and ``weights_sha256`` and
an index built with either one opens with the other. What differs is recorded in ``variant``
("fp32" or "int8"); int8 query vectors have cosine ~0.99 to the torch ones (see
``citeqa bench``), which leaves retrieval unchanged on the gold questions.

``load_onnx_embedder`` (what ``load_default_embedder("onnx")`` returns) embeds queries with int8
and documents with fp32, whose vectors equal the torch ones, so ingest through it changes nothing
in the index but its speed.

Example::

    embedder = OnnxEmbedder.from_cache()          # exports once if the cache is empty (~20 s)
    embedder.embed_query("Who signed the pact?")  # (384,) float32, L2-normalised
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from index.embedders.onnx_export import (
    DEFAULT_CACHE_DIR,
    HIDDEN_SIZE,
    ExportedModel,
    Variant,
    ensure_exported,
    read_export,
    verify_export,
)
from index.embedders.protocol import Embedder
from index.embedders.weights import MODEL_NAME
from index.errors import ModelIntegrityError

logger = logging.getLogger(__name__)

MAX_SEQ_LENGTH = 256
PAD_ID = 0


def load_tokenizer(path: Path, max_seq_length: int = MAX_SEQ_LENGTH) -> Tokenizer:
    """The packaged tokenizer: truncates at the model's limit, pads a batch to its longest text."""
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception for unreadable files
        raise ModelIntegrityError(f"could not read tokenizer {path}: {exc}") from exc
    # tokenizer.json ships with fixed padding and truncation at 128; sentence-transformers uses
    # 256 (specials included) and pads to the longest text in the batch, and so must we.
    tok.enable_truncation(max_length=max_seq_length)
    tok.enable_padding(pad_id=PAD_ID, pad_token="[PAD]")  # noqa: S106 - a token, not a password
    return tok


class OnnxEmbedder:
    """The packaged model on ONNX Runtime (fused graph, fp32 or int8 weights), one CPU thread."""

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        weights_sha256: str,
        variant: Variant = "int8",
        intra_op_threads: int = 1,
        batch_size: int = 32,
        model_name: str = MODEL_NAME,
        documents: Callable[[], OnnxEmbedder] | None = None,
    ) -> None:
        import onnxruntime as ort

        self.model_name = model_name
        self.weights_sha256 = weights_sha256
        self.variant: Variant = variant
        self.dim = HIDDEN_SIZE
        self.max_seq_length = MAX_SEQ_LENGTH
        self.batch_size = batch_size
        self.model_path = model_path
        # Optional other variant for documents, opened on first use (see ``from_cache``).
        self._documents_factory = documents
        self._documents: OnnxEmbedder | None = None
        self._documents_lock = threading.Lock()
        self._tokenizer = load_tokenizer(tokenizer_path, MAX_SEQ_LENGTH)
        options = ort.SessionOptions()
        # One intra-op thread: a query is ~10 tokens, where a thread pool's hand-offs cost more
        # than they save, and concurrent requests get parallelism from the server's threads.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads > 1:
            # Spinning workers would steal the CPU from the event loop and the other requests.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        started = time.perf_counter()
        try:
            self._session = ort.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelIntegrityError(f"could not load ONNX model {model_path}: {exc}") from exc
        self._input_names = {i.name for i in self._session.get_inputs()}
        logger.debug(
            "ONNX %s session for %s ready in %.0f ms",
            variant,
            model_path,
            (time.perf_counter() - started) * 1000,
        )

    @classmethod
    def from_export(
        cls,
        exported: ExportedModel,
        *,
        variant: Variant = "int8",
        intra_op_threads: int = 1,
        documents_variant: Variant | None = None,
        documents_threads: int = 2,
        verify: bool = True,
    ) -> OnnxEmbedder:
        """Open one variant of an export, checking its file hash first.

        With ``documents_variant`` (e.g. "fp32" under an "int8" query model), ``embed_documents``
        runs that variant instead, opened lazily on the first call with ``documents_threads``
        threads: documents then get the same vectors as the torch model, queries the fast ones.
        """
        if verify:
            verify_export(exported, variant)
        documents: Callable[[], OnnxEmbedder] | None = None
        if documents_variant is not None and documents_variant != variant:
            doc_variant: Variant = documents_variant

            def documents() -> OnnxEmbedder:
                return cls.from_export(
                    exported, variant=doc_variant, intra_op_threads=documents_threads
                )

        return cls(
            exported.model_path(variant),
            exported.tokenizer_path,
            weights_sha256=exported.weights_sha256,
            variant=variant,
            intra_op_threads=intra_op_threads,
            documents=documents,
        )

    @classmethod
    def from_cache(
        cls,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        *,
        variant: Variant = "int8",
        intra_op_threads: int = 1,
        documents_variant: Variant | None = None,
        export_if_missing: bool = True,
    ) -> OnnxEmbedder:
        """The cached export; with ``export_if_missing`` it is made first (needs torch, ~20 s)."""
        exported = read_export(cache_dir)
        if exported is None:
            if not export_if_missing:
                raise ModelIntegrityError(
                    f"no ONNX export under {cache_dir}; run `citeqa bench --quick` or load the "
                    "onnx embedder once with export enabled"
                )
            logger.warning("no ONNX export under %s yet; exporting now (about 20 s)", cache_dir)
            exported = ensure_exported(cache_dir)
        return cls.from_export(
            exported,
            variant=variant,
            intra_op_threads=intra_op_threads,
            documents_variant=documents_variant,
        )

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, np.ndarray] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        try:
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
        except Exception as exc:  # onnxruntime's errors are untyped; keep the cause
            raise ModelIntegrityError(f"ONNX inference failed: {exc}") from exc
        return _mean_pool_normalise(np.asarray(hidden, dtype=np.float32), mask)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._documents_factory is not None:
            return self._documents_embedder().embed_documents(texts)
        # Batches of similar length waste little compute on padding; the order is restored below.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            vectors = self._encode([texts[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        assert out is not None
        return out

    def _documents_embedder(self) -> OnnxEmbedder:
        with self._documents_lock:
            if self._documents is None:
                assert self._documents_factory is not None
                self._documents = self._documents_factory()
            return self._documents

    def embed_query(self, text: str) -> np.ndarray:
        vec: np.ndarray = self._encode([text])[0]
        return vec

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model sees (specials included, after truncation), for throughput figures."""
        # One at a time: a single text is never padded, so no [PAD] is counted.
        return sum(len(self._tokenizer.encode(t).ids) for t in texts)


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors under the attention mask, then L2 normalisation."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(pooled / norms, dtype=np.float32)


def load_onnx_embedder(
    variant: Variant = "int8",
    cache_dir: Path | None = None,
    *,
    documents_variant: Variant | None = "fp32",
    intra_op_threads: int = 1,
    batching: bool = False,
) -> Embedder:
    """Entry point for ``load_default_embedder("onnx")``: int8 queries, fp32 documents.

    Documents (ingest, uploads) go through the fp32 graph, whose vectors equal the torch model's
    (cosine 1.0000), so an index stays the same whichever embedder built it; queries use int8.
    ``batching`` wraps the embedder in a :class:`~index.embedders.batching.MicroBatcher`: off by
    default,
    because measured here a batch of 16 short questions costs as much as 16 single encodes
    (padding, and int8 activations quantised per batch), and the hand-off to the batch worker
    added latency (see ``citeqa bench`` and the performance notes).
    """
    embedder = OnnxEmbedder.from_cache(
        cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR,
        variant=variant,
        intra_op_threads=intra_op_threads,
        documents_variant=documents_variant,
    )
    if not batching:
        return embedder
    from index.embedders.batching import MicroBatcher

    return MicroBatcher(embedder)
