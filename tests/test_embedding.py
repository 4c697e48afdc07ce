"""Embedders: hash verification before load, normalised batched vectors, the hashing fake."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from index import hashing
from index.embedders import factory
from index.embedders.protocol import Embedder
from index.embedders.torch_embedder import SentenceTransformerEmbedder
from index.embedders.weights import (
    EXPECTED_WEIGHTS_SHA256,
    WEIGHTS_FILE,
    default_model_dir,
    verify_weights,
)
from index.errors import ModelIntegrityError
from index.hashing import sha256_file
from tests.fakes import HashingEmbedder


def _tampered_model_dir(tmp_path: Path) -> Path:
    """The packaged model folder with one byte of the weights flipped (other files linked)."""
    src = default_model_dir()
    dst = tmp_path / "model"
    dst.mkdir()
    for entry in src.iterdir():
        if entry.name != WEIGHTS_FILE:
            (dst / entry.name).symlink_to(entry)
    shutil.copyfile(src / WEIGHTS_FILE, dst / WEIGHTS_FILE)
    with (dst / WEIGHTS_FILE).open("r+b") as fh:
        fh.seek(4096)
        b = fh.read(1)
        fh.seek(4096)
        fh.write(bytes([b[0] ^ 0x01]))
    return dst


def test_tampered_weights_refused_before_loading(tmp_path: Path) -> None:
    model_dir = _tampered_model_dir(tmp_path)
    with pytest.raises(ModelIntegrityError) as info:
        SentenceTransformerEmbedder(model_dir)
    message = str(info.value)
    assert EXPECTED_WEIGHTS_SHA256 in message
    assert sha256_file(model_dir / WEIGHTS_FILE) in message
    assert "reinstall" in message.lower()


def test_missing_weights_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="missing"):
        verify_weights(tmp_path)


def test_packaged_weights_verify() -> None:
    assert verify_weights(default_model_dir()) == EXPECTED_WEIGHTS_SHA256


def test_hash_cache_follows_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 10)
    first = sha256_file(f)
    assert any(k[0] == str(f.resolve()) for k in hashing._file_cache)
    assert sha256_file(f) == first
    f.write_bytes(b"b" * 11)
    os.utime(f, ns=(1, 1))
    assert sha256_file(f) != first


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    emb = HashingEmbedder(dim=32)
    assert isinstance(emb, Embedder)
    a = emb.embed_documents(["North Korean troops in Kursk", "mutual defense pact"])
    b = emb.embed_documents(["North Korean troops in Kursk", "mutual defense pact"])
    assert a.dtype == np.float32
    assert a.shape == (2, 32)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    q = emb.embed_query("troops in Kursk")
    assert float(a[0] @ q) > float(a[1] @ q)
    assert emb.embed_documents([]).shape == (0, 32)


def test_load_default_embedder_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown embedder kind"):
        factory.load_default_embedder("tf")  # type: ignore[arg-type]


@pytest.mark.slow
def test_real_embedder_vectors(real_embedder: SentenceTransformerEmbedder) -> None:
    assert real_embedder.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert real_embedder.dim == 384
    assert real_embedder.weights_sha256 == EXPECTED_WEIGHTS_SHA256
    assert real_embedder.max_seq_length == 256
    texts = [f"sentence number {i} about troops" for i in range(70)]
    batched = real_embedder.embed_documents(texts)
    assert batched.shape == (70, 384)
    assert batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, rtol=1e-4)
    single = real_embedder.embed_query(texts[5])
    np.testing.assert_allclose(single, batched[5], atol=1e-5)
    near = real_embedder.embed_query("Who signed the mutual defense pact?")
    pact = real_embedder.embed_query("Kim Jong Un and Vladimir Putin signed a defense agreement")
    other = real_embedder.embed_query("The weather in Lisbon is sunny today")
    assert float(near @ pact) > float(near @ other)
