"""The core never pulls in delivery frameworks, and litellm only loads when generating."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = [
    "index.models",
    "index.errors",
    "index.ingestion.chunking",
    "index.embedders.torch_embedder",
    "index.corpus",
    "prompts",
    "service.answering.types",
    "service.answering.question",
    "service.answering.citations",
    "service.answering.conflicts",
    "service.answering.generators.extractive",
    "service.answering.verification",
    "service.answering.generators.litellm_generator",
    "service.answering.pipeline",
]
FORBIDDEN = ["fastapi", "slack_bolt", "uvicorn", "typer", "click", "starlette"]


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.integration
def test_core_imports_no_web_or_cli_framework() -> None:
    loaded = _loaded_after_import(CORE)
    for name in FORBIDDEN:
        assert name not in loaded, f"core imported {name}"


@pytest.mark.integration
def test_importing_the_pipeline_does_not_import_litellm() -> None:
    loaded = _loaded_after_import(
        [
            "service.answering.pipeline",
            "service.answering.generators.litellm_generator",
            "service.cli.ask",
        ]
    )
    assert "litellm" not in loaded
    assert "torch" not in loaded
