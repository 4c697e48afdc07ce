"""The index folder's manifest: what built it, how big it is, and which generation is live.

``manifest.json`` is the commit point of every write: a write puts all new files into a fresh
``gen-NNNNNN`` folder, fsyncs them, then atomically replaces ``manifest.json`` to point at it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from index.storage.atomic import atomic_write_text

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


def utc_now() -> str:
    """ISO-8601 UTC timestamp with seconds precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Manifest:
    """Describes one committed state of an index folder."""

    format_version: int
    model_name: str
    weights_sha256: str
    dim: int
    n_documents: int
    n_chunks: int
    created_at: str
    updated_at: str
    vector_index: str
    version: str
    generation: str = ""
    n_tombstones: int = 0
    title_prefix: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_manifest(index_dir: Path) -> Manifest:
    """Read ``index_dir/manifest.json`` (IndexNotFoundError / IndexCorruptError)."""
    path = index_dir / MANIFEST_NAME
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index at {index_dir} (missing {MANIFEST_NAME}); build one with "
            f"`citeqa ingest seeds/ --index-dir {index_dir}`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("manifest is not a JSON object")
        return Manifest.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise IndexCorruptError(
            f"unreadable manifest at {path}: {exc}; rebuild with "
            f"`citeqa ingest seeds/ --index-dir {index_dir} --rebuild`"
        ) from exc


def write_manifest(index_dir: Path, manifest: Manifest) -> None:
    """Atomically replace the manifest: the one step that makes a new generation live."""
    atomic_write_text(index_dir / MANIFEST_NAME, manifest.to_json())


def check_compatible(
    manifest: Manifest, *, model_name: str, weights_sha256: str, dim: int, index_dir: Path
) -> None:
    """Refuse an index built with another format, model, weights or dimension."""
    rebuild = f"rebuild it with `citeqa ingest seeds/ --index-dir {index_dir} --rebuild`"
    problems: list[str] = []
    if manifest.format_version != FORMAT_VERSION:
        problems.append(
            f"format version {manifest.format_version} (this citeqa reads {FORMAT_VERSION})"
        )
    if manifest.model_name != model_name:
        problems.append(f"model {manifest.model_name!r} (loaded embedder is {model_name!r})")
    if manifest.weights_sha256 != weights_sha256:
        problems.append(
            f"weights sha256 {manifest.weights_sha256[:12]}... "
            f"(loaded embedder has {weights_sha256[:12]}...)"
        )
    if manifest.dim != dim:
        problems.append(f"dimension {manifest.dim} (loaded embedder has {dim})")
    if problems:
        raise IndexMismatchError(
            f"index at {index_dir} was built with " + "; ".join(problems) + f"; {rebuild}"
        )
