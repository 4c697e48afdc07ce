"""The environment holds no compromised litellm, no unexpected .pth file, and the pinned weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.embedders.weights import WEIGHTS_FILE, default_model_dir
from index.supply_chain import (
    audit_environment,
    check_litellm,
    check_pth_files,
    check_weights,
    is_compromised_litellm,
    site_package_dirs,
)


def _fake_dist(site_dir: Path, name: str, version: str) -> None:
    info = site_dir / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )


def test_real_environment_is_clean() -> None:
    findings = audit_environment()
    assert findings == [], "\n".join(f.detail for f in findings)
    assert site_package_dirs(), "no site-packages found: the audit would check nothing"


@pytest.mark.parametrize(
    ("version", "bad"),
    [
        ("1.82.7", True),
        ("1.82.8", True),
        ("1.107.0", True),
        ("1.107.12", True),
        ("1.82.6", False),
        ("1.83.14", False),
        ("1.10.7", False),
        ("1.1070.0", False),
    ],
)
def test_compromised_versions(version: str, bad: bool) -> None:
    assert is_compromised_litellm(version) is bad


def test_fabricated_bad_site_packages_fails(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    _fake_dist(site, "litellm", "1.82.8")
    (site / "litellm_init.pth").write_text("import os; os.system('steal')\n", encoding="utf-8")
    (site / "distutils-precedence.pth").write_text("import os\n", encoding="utf-8")
    (site / "__editable__.citeqa-0.1.0.pth").write_text("import x\n", encoding="utf-8")

    findings = audit_environment([site])
    kinds = sorted(f.kind for f in findings)
    assert kinds == ["litellm", "pth"]
    assert any("litellm_init.pth" in f.detail for f in findings)
    assert any("1.82.8" in f.detail for f in findings)


def test_safe_litellm_and_allowed_pth_pass(tmp_path: Path) -> None:
    _fake_dist(tmp_path, "litellm", "1.83.14")
    (tmp_path / "distutils-precedence.pth").write_text("import os\n", encoding="utf-8")
    assert check_litellm([tmp_path]) == []
    assert check_pth_files([tmp_path]) == []


def test_other_weights_fail(tmp_path: Path) -> None:
    src = default_model_dir() / WEIGHTS_FILE
    copy = tmp_path / WEIGHTS_FILE
    shutil.copyfile(src, copy)
    assert check_weights(tmp_path) == []
    with copy.open("r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    findings = check_weights(tmp_path)
    assert [f.kind for f in findings] == ["weights"]
    assert "expected" in findings[0].detail
