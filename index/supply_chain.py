"""Checks that the Python environment holds nothing known to be hostile.

* litellm releases known to be compromised (1.82.7 and 1.82.8 shipped a credential stealer;
  every 1.107.x is treated as compromised too).
* ``.pth`` files: Python executes their ``import`` lines at every interpreter start, which is
  where the 1.82.8 payload hid (``litellm_init.pth``). Only a short allow-list may exist.
* The embedding weights must have the pinned sha256.

``audit_environment()`` returns findings (empty means clean); tests run it on the real
environment and on a fabricated bad site-packages folder to show it can fail.
"""

from __future__ import annotations

import fnmatch
import site
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from index.embedders.weights import EXPECTED_WEIGHTS_SHA256, WEIGHTS_FILE, default_model_dir
from index.errors import ModelIntegrityError
from index.hashing import sha256_file

COMPROMISED_LITELLM_VERSIONS = frozenset({"1.82.7", "1.82.8"})
COMPROMISED_LITELLM_PREFIXES = ("1.107.",)
PTH_ALLOWLIST = (
    "distutils-precedence.pth",  # setuptools' distutils shim
    "__editable__.citeqa-*.pth",  # this project installed with `pip install -e .`
)


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` is ``litellm``, ``pth`` or ``weights``."""

    kind: str
    detail: str


def is_compromised_litellm(version: str) -> bool:
    return version in COMPROMISED_LITELLM_VERSIONS or version.startswith(
        COMPROMISED_LITELLM_PREFIXES
    )


def site_package_dirs() -> list[Path]:
    """The running interpreter's site-packages folders (venv and user site)."""
    dirs = [Path(p) for p in site.getsitepackages()]
    user = site.getusersitepackages()
    if isinstance(user, str) and site.ENABLE_USER_SITE:
        dirs.append(Path(user))
    dirs += [Path(p) for p in sys.path if p.endswith("site-packages")]
    unique: dict[Path, None] = {}
    for d in dirs:
        if d.is_dir():
            unique[d.resolve()] = None
    return list(unique)


def check_litellm(site_dirs: Sequence[Path]) -> list[Finding]:
    """Every litellm distribution installed in ``site_dirs`` with a compromised version."""
    findings = []
    for dist in metadata.distributions(path=[str(d) for d in site_dirs]):
        name = (dist.metadata["Name"] or "").lower()
        if name == "litellm" and is_compromised_litellm(dist.version):
            findings.append(
                Finding(
                    "litellm",
                    f"litellm {dist.version} is a known-compromised release "
                    f"(found in {dist.locate_file('')}); reinstall the pinned version with "
                    "`make setup`",
                )
            )
    return findings


def check_pth_files(
    site_dirs: Sequence[Path], allowlist: Iterable[str] = PTH_ALLOWLIST
) -> list[Finding]:
    """``.pth`` files whose name is not on the allow-list."""
    patterns = tuple(allowlist)
    findings = []
    for folder in site_dirs:
        for pth in sorted(folder.glob("*.pth")):
            if not any(fnmatch.fnmatchcase(pth.name, p) for p in patterns):
                findings.append(
                    Finding(
                        "pth",
                        f"unexpected {pth} (runs code at every Python start); inspect it, remove "
                        "the package that installed it, and rebuild the venv",
                    )
                )
    return findings


def check_weights(
    model_dir: Path | None = None, expected: str = EXPECTED_WEIGHTS_SHA256
) -> list[Finding]:
    """The embedding weights' sha256 differs from the pinned one (or the file is missing)."""
    try:
        folder = model_dir if model_dir is not None else default_model_dir()
    except ModelIntegrityError as exc:
        return [Finding("weights", str(exc))]
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        return [Finding("weights", f"missing {weights}")]
    actual = sha256_file(weights)
    if actual != expected:
        return [Finding("weights", f"{weights} has sha256 {actual}, expected {expected}")]
    return []


def audit_environment(
    site_dirs: Sequence[Path] | None = None, model_dir: Path | None = None
) -> list[Finding]:
    """All findings for ``site_dirs`` (default: this interpreter's) and the model weights."""
    dirs = list(site_dirs) if site_dirs is not None else site_package_dirs()
    return [*check_litellm(dirs), *check_pth_files(dirs), *check_weights(model_dir)]
