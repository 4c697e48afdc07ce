"""The model's own tokenizer, loaded without torch, counts the tokens the embedder will see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from index.embedders.tokenizer import ModelTokenizer, default_model_dir, load_default_tokenizer
from index.errors import ModelIntegrityError

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tok() -> ModelTokenizer:
    return load_default_tokenizer()


def test_limits_match_the_packaged_model(tok: ModelTokenizer) -> None:
    assert tok.max_seq_length == 256
    assert tok.n_special_tokens == 2
    assert tok.max_content_tokens == 254


def test_count_excludes_special_tokens_and_padding(tok: ModelTokenizer) -> None:
    # tokenizer.json ships with fixed padding to 128; a short text must not count as 128.
    assert tok.count("") == 0
    assert tok.tokens("North Korean troops") == ["north", "korean", "troops"]
    assert tok.count("North Korean troops") == 3
    assert tok.count("3,000 soldiers in the U.S.") == len(tok.tokens("3,000 soldiers in the U.S."))


def test_count_is_not_truncated(tok: ModelTokenizer) -> None:
    long_text = " ".join(["troops"] * 600)
    assert tok.count(long_text) == 600
    assert tok.count_batch([long_text, "a b"]) == [600, 2]


def test_token_spans_point_into_the_original_text(tok: ModelTokenizer) -> None:
    text = "Kim Jong-un met  Vladimir Putin in June 2024."
    spans = tok.token_spans(text)
    assert len(spans) == tok.count(text)
    pieces = [text[s:e].lower() for s, e in spans]
    assert pieces[:3] == ["kim", "jong", "-"]
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match=r"tokenizer\.json not found"):
        ModelTokenizer.from_model_dir(tmp_path)


def test_max_seq_length_comes_from_the_model_config(tmp_path: Path) -> None:
    src = default_model_dir()
    (tmp_path / "tokenizer.json").write_bytes((src / "tokenizer.json").read_bytes())
    (tmp_path / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    assert ModelTokenizer.from_model_dir(tmp_path).max_seq_length == 128


def test_loading_the_tokenizer_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from index.embedders.tokenizer import load_default_tokenizer\n"
        "assert load_default_tokenizer().count('hello world') == 2\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
