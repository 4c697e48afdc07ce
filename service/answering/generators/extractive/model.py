"""The fitted artifact: linear rankers, the confidence model, its calibration and the threshold.

Everything is plain numbers so the artifact is one JSON file (no pickle): loading it runs no code.
Format::

    {"format": "citeqa-general-answerer/1", "sentence": {...}, "span": {...},
     "confidence": {...}, "calibration": {"x": [...], "y": [...]}, "threshold": 0.3, "meta": {...}}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "citeqa-general-answerer/1"


class ArtifactError(ValueError):
    """The artifact file is missing, of another format, or its features do not match the code."""


@dataclass(frozen=True)
class Linear:
    """``score = X @ weights + bias`` over named features (names are checked against the code)."""

    names: tuple[str, ...]
    weights: np.ndarray
    bias: float = 0.0

    def score(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        out: np.ndarray = np.asarray(x, dtype=np.float64) @ self.weights + self.bias
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "weights": [float(w) for w in self.weights],
            "bias": self.bias,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Linear:
        return cls(
            tuple(raw["names"]), np.asarray(raw["weights"], dtype=np.float64), float(raw["bias"])
        )


@dataclass(frozen=True)
class Calibration:
    """A monotone map from a raw score to P(correct) (isotonic fit, linear between knots)."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, raw: float) -> float:
        if self.x.size == 0:
            return 1.0 / (1.0 + math.exp(-raw))
        return float(np.interp(raw, self.x, self.y))

    def to_json(self) -> dict[str, Any]:
        return {"x": [float(v) for v in self.x], "y": [float(v) for v in self.y]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Calibration:
        return cls(np.asarray(raw["x"], dtype=np.float64), np.asarray(raw["y"], dtype=np.float64))


@dataclass(frozen=True)
class FittedModel:
    """What ``answer`` needs: the rankers, the confidence model and when to abstain."""

    sentence: Linear
    span: Linear
    confidence: Linear
    calibration: Calibration
    threshold: float
    top_sentences: int = 4
    second_quote_ratio: float = 0.5  # cite the runner-up sentence too when its P is this close
    meta: dict[str, Any] = field(default_factory=dict)

    def check(
        self,
        sentence_names: tuple[str, ...],
        span_names: tuple[str, ...],
        conf_names: tuple[str, ...],
    ) -> None:
        """Refuse an artifact fitted on other features than this code computes."""
        for what, have, want in (
            ("sentence", self.sentence.names, sentence_names),
            ("span", self.span.names, span_names),
            ("confidence", self.confidence.names, conf_names),
        ):
            if have != want:
                raise ArtifactError(
                    f"{what} features of the artifact differ from the code; refit with `citeqa fit`"
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "sentence": self.sentence.to_json(),
            "span": self.span.to_json(),
            "confidence": self.confidence.to_json(),
            "calibration": self.calibration.to_json(),
            "threshold": self.threshold,
            "top_sentences": self.top_sentences,
            "second_quote_ratio": self.second_quote_ratio,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FittedModel:
        if raw.get("format") != FORMAT:
            raise ArtifactError(f"artifact format {raw.get('format')!r}, expected {FORMAT!r}")
        return cls(
            sentence=Linear.from_json(raw["sentence"]),
            span=Linear.from_json(raw["span"]),
            confidence=Linear.from_json(raw["confidence"]),
            calibration=Calibration.from_json(raw["calibration"]),
            threshold=float(raw["threshold"]),
            top_sentences=int(raw["top_sentences"]),
            second_quote_ratio=float(raw["second_quote_ratio"]),
            meta=dict(raw.get("meta", {})),
        )

    def save(self, path: Path) -> None:
        """Written atomically (temp file, then rename), so a reader never sees half a file."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> FittedModel:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"cannot read the answerer artifact {path}: {exc}") from exc
        return cls.from_json(raw)
