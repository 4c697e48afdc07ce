"""OnnxEmbedder and the ONNX export: pooling, tokenisation limits, cache integrity, fidelity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.embedders.onnx_embedder import MAX_SEQ_LENGTH, OnnxEmbedder
from index.embedders.onnx_export import (
    VARIANT_FILES,
    ensure_exported,
    export_dir,
    read_export,
    verify_export,
)
from index.embedders.protocol import Embedder
from index.embedders.weights import EXPECTED_WEIGHTS_SHA256, MODEL_NAME, default_model_dir
from index.errors import ModelIntegrityError
from index.hashing import sha256_file

REPO_ROOT = Path(__file__).resolve().parent.parent
TOY_DIM = 8
VOCAB = 30522


def _toy_model(path: Path, table: np.ndarray) -> None:
    """A one-op ONNX graph: each token's vector is a row of ``table`` (no transformer)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "toy",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(table, name="table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def toy_table() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((VOCAB, TOY_DIM)).astype(np.float32)


@pytest.fixture
def toy_embedder(tmp_path: Path, toy_table: np.ndarray) -> OnnxEmbedder:
    model = tmp_path / "toy.onnx"
    _toy_model(model, toy_table)
    embedder = OnnxEmbedder(
        model,
        default_model_dir() / "tokenizer.json",
        weights_sha256=EXPECTED_WEIGHTS_SHA256,
        variant="fp32",
    )
    embedder.dim = TOY_DIM
    return embedder


def _expected(embedder: OnnxEmbedder, table: np.ndarray, text: str) -> np.ndarray:
    ids = embedder._tokenizer.encode(text).ids
    vec = table[ids].mean(axis=0)
    return np.asarray(vec / np.linalg.norm(vec), dtype=np.float32)


def test_importing_the_embedder_does_not_import_torch() -> None:
    code = (
        "import sys, index.embedders.onnx_embedder, index.embedders.batching;"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == ""


def test_mean_pooling_ignores_padding_and_vectors_are_normalised(
    toy_embedder: OnnxEmbedder, toy_table: np.ndarray
) -> None:
    texts = ["troops", "North Korean troops were sent to the Kursk region of Russia"]
    batch = toy_embedder.embed_documents(texts)
    assert batch.dtype == np.float32
    assert batch.shape == (2, TOY_DIM)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)
    # The short text was padded to the long one's length in the batch; [PAD] must not count.
    for row, text in zip(batch, texts, strict=True):
        np.testing.assert_allclose(row, _expected(toy_embedder, toy_table, text), atol=1e-5)
    np.testing.assert_allclose(toy_embedder.embed_query(texts[0]), batch[0], atol=1e-6)


def test_documents_keep_their_order_across_length_sorted_batches(
    toy_embedder: OnnxEmbedder,
) -> None:
    toy_embedder.batch_size = 2
    texts = [("word " * n).strip() + f" item{n}" for n in (9, 1, 5, 3, 7)]
    together = toy_embedder.embed_documents(texts)
    one_by_one = np.stack([toy_embedder.embed_query(t) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert toy_embedder.embed_documents([]).shape == (0, TOY_DIM)


def test_truncation_is_at_256_tokens_including_specials(
    toy_embedder: OnnxEmbedder, toy_table: np.ndarray
) -> None:
    long_text = " ".join(f"troop{i}" for i in range(600))
    ids = toy_embedder._tokenizer.encode(long_text).ids
    assert len(ids) == MAX_SEQ_LENGTH
    assert ids[-1] == 102  # [SEP] survives truncation
    assert toy_embedder.count_tokens([long_text, "a b"]) == MAX_SEQ_LENGTH + 4
    vec = toy_embedder.embed_query(long_text)
    expected = toy_table[ids].mean(axis=0)
    np.testing.assert_allclose(vec, expected / np.linalg.norm(expected), atol=1e-5)


def test_embedder_reports_the_source_model_identity(toy_embedder: OnnxEmbedder) -> None:
    assert isinstance(toy_embedder, Embedder)
    assert toy_embedder.model_name == MODEL_NAME
    assert toy_embedder.weights_sha256 == EXPECTED_WEIGHTS_SHA256
    assert toy_embedder.max_seq_length == MAX_SEQ_LENGTH


def _fake_export(cache: Path, toy_table: np.ndarray, int8_table: np.ndarray | None = None) -> Path:
    folder = export_dir(cache)
    folder.mkdir(parents=True)
    for variant, name in VARIANT_FILES.items():
        table = int8_table if variant == "int8" and int8_table is not None else toy_table
        _toy_model(folder / name, table)
    (folder / "tokenizer.json").write_bytes((default_model_dir() / "tokenizer.json").read_bytes())
    meta = {
        "format": 1,
        "weights_sha256": EXPECTED_WEIGHTS_SHA256,
        "files": {v: sha256_file(folder / n) for v, n in VARIANT_FILES.items()},
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_cached_export_is_found_and_a_tampered_file_is_refused(
    tmp_path: Path, toy_table: np.ndarray
) -> None:
    assert read_export(tmp_path) is None
    folder = _fake_export(tmp_path, toy_table)
    exported = read_export(tmp_path)
    assert exported is not None
    # ensure_exported must reuse the cache, not export again (that would import torch).
    assert ensure_exported(tmp_path).directory == folder
    embedder = OnnxEmbedder.from_cache(tmp_path, variant="int8", export_if_missing=False)
    assert embedder.variant == "int8"
    with (folder / VARIANT_FILES["int8"]).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        verify_export(exported, "int8")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        OnnxEmbedder.from_cache(tmp_path, variant="int8", export_if_missing=False)


def test_incomplete_export_is_ignored_and_missing_cache_is_a_clear_error(
    tmp_path: Path, toy_table: np.ndarray
) -> None:
    folder = _fake_export(tmp_path, toy_table)
    (folder / "meta.json").unlink()  # an export interrupted before its commit marker
    assert read_export(tmp_path) is None
    with pytest.raises(ModelIntegrityError, match="no ONNX export"):
        OnnxEmbedder.from_cache(tmp_path, export_if_missing=False)


def test_documents_can_use_another_variant_than_queries(
    tmp_path: Path, toy_table: np.ndarray
) -> None:
    int8_table = -toy_table  # a recognisably different "int8" model
    _fake_export(tmp_path, toy_table, int8_table)
    embedder = OnnxEmbedder.from_cache(
        tmp_path, variant="int8", documents_variant="fp32", export_if_missing=False
    )
    embedder.dim = TOY_DIM
    text = "North Korean troops"
    query = embedder.embed_query(text)
    assert embedder._documents is None  # the fp32 session opens only when documents come
    doc = embedder.embed_documents([text])[0]
    np.testing.assert_allclose(doc, _expected(embedder, toy_table, text), atol=1e-5)
    np.testing.assert_allclose(query, -doc, atol=1e-5)
    assert embedder._documents is not None
    assert embedder._documents.variant == "fp32"


def test_export_refuses_weights_with_another_hash(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"not the real weights")
    with pytest.raises(ModelIntegrityError, match="sha256"):
        ensure_exported(tmp_path / "cache", model_dir=model_dir)
    assert read_export(tmp_path / "cache") is None


# -- the real export ------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_export_is_fused_and_quantised(onnx_cache_dir: Path) -> None:
    import onnx

    exported = read_export(onnx_cache_dir)
    assert exported is not None
    ops = {
        variant: {n.op_type for n in onnx.load(str(exported.model_path(variant))).graph.node}
        for variant in ("fp32", "int8")
    }
    assert "Attention" in ops["fp32"]
    assert "SkipLayerNormalization" in ops["fp32"]
    assert "QAttention" in ops["int8"]
    assert "MatMulInteger" in ops["int8"]
    assert (
        exported.model_path("int8").stat().st_size < exported.model_path("fp32").stat().st_size / 3
    )


@pytest.mark.slow
def test_onnx_vectors_match_torch_on_seed_chunks_and_questions(
    onnx_cache_dir: Path, real_embedder: Embedder, seeds_dir: Path
) -> None:
    from index.embedders.tokenizer import load_default_tokenizer
    from index.ingestion.chunking import chunk_document
    from index.ingestion.reading import load_paths

    docs, _ = load_paths([seeds_dir])
    tokenizer = load_default_tokenizer()
    texts = [c.text for d in docs for c in chunk_document(d, tokenizer)]
    lines = (REPO_ROOT / "tests" / "data" / "retrieval_questions.jsonl").read_text().splitlines()
    texts += [json.loads(line)["question"] for line in lines if line.strip()]
    reference = real_embedder.embed_documents(texts)
    for variant, mean_floor, min_floor in (("fp32", 0.9999, 0.9999), ("int8", 0.99, 0.98)):
        embedder = OnnxEmbedder.from_cache(onnx_cache_dir, variant=variant)  # type: ignore[arg-type]
        cos = (embedder.embed_documents(texts) * reference).sum(axis=1)
        assert cos.mean() >= mean_floor, variant
        assert cos.min() >= min_floor, variant


@pytest.mark.slow
def test_index_built_with_torch_opens_and_searches_with_onnx_queries(
    onnx_cache_dir: Path, seed_index_dir: Path, seed_index: Any
) -> None:
    from index.corpus import CorpusIndex
    from index.embedders.onnx_embedder import load_onnx_embedder

    embedder = load_onnx_embedder(cache_dir=onnx_cache_dir)
    index = CorpusIndex.open(seed_index_dir, embedder)  # the manifest check accepts it
    question = "Who signed the mutual defense pact?"
    onnx_hits = index.search(question, top_k=3, mode="dense")
    torch_hits = seed_index.search(question, top_k=3, mode="dense")
    assert onnx_hits[0].chunk.id == torch_hits[0].chunk.id
    assert abs(onnx_hits[0].score - torch_hits[0].score) < 0.02
