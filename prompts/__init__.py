"""Prompt templates as plain files, loaded by name with a version hash.

Each template is ``prompts/<name>.txt``. Placeholders are written ``{{name}}`` and filled with
:meth:`Prompt.render`, which never interprets braces inside the substituted values (retrieved text
is data, so it must not be able to inject placeholders of its own).

Example::

    prompt = load_prompt("answer")
    text = prompt.render(question="Who?", sources="<source id=1 ...>...</source>")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from index.errors import CiteqaError
from index.hashing import short_hash as _short_hash

PROMPTS_DIR = Path(__file__).resolve().parent
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PLACEHOLDER_RE = re.compile(r"\{\{([a-z_]+)\}\}")


class PromptNotFoundError(CiteqaError):
    """No template file with that name."""

    code = "prompt_not_found"


def short_hash(*parts: str) -> str:
    """First 12 hex digits of the sha256 of the parts (NUL-separated)."""
    return _short_hash(*parts, length=12)


@dataclass(frozen=True)
class Prompt:
    """A named template and the short sha256 of its content."""

    name: str
    text: str
    version: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER_RE.findall(self.text))

    def render(self, **values: str) -> str:
        """Fills every ``{{placeholder}}`` in one pass; a missing value raises ``KeyError``."""
        missing = self.placeholders - values.keys()
        if missing:
            raise KeyError(f"prompt {self.name!r} needs values for: {', '.join(sorted(missing))}")
        return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], self.text)


@lru_cache(maxsize=32)
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> Prompt:
    """Loads ``<directory>/<name>.txt``; the version changes whenever the file's content does."""
    if not _NAME_RE.match(name):
        raise PromptNotFoundError(
            f"invalid prompt name {name!r} (use lowercase letters, _, digits)"
        )
    path = directory / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PromptNotFoundError(f"no prompt template {path}") from exc
    return Prompt(name=name, text=text, version=short_hash(text))


def available_prompts(directory: Path = PROMPTS_DIR) -> list[str]:
    """Names of the templates in ``directory``."""
    return sorted(p.stem for p in directory.glob("*.txt"))
