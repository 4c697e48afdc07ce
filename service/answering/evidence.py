"""Typed values passed between retrieval, generators and the verifier.

A :class:`Source` is one retrieved chunk, numbered as the answer cites it; a :class:`Draft` is what
a generator proposes (sentences citing source numbers, and quotes); the verifier turns a draft
into checked citations. Only an LLM generator renders these as prompt text and parses text back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER_RE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")

# Text addressed to the answering system is not evidence about the world: never quoted as such.
_INSTRUCTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|your\s+|the\s+|previous\s+|prior\s+|"
    r"above\s+|earlier\s+)*(?:instructions|rules|prompts?|guidelines)\b|\bsystem prompt\b|"
    r"\b(?:AI|automated|language model)\s+(?:assistants?|systems?|models?)\b|"
    r"\byou must (?:say|answer|reply|obey|respond)\b",
    re.IGNORECASE,
)


def looks_like_instruction(text: str) -> bool:
    """True for text that addresses an AI system ("ignore your instructions and ...")."""
    return bool(_INSTRUCTION_RE.search(text))


@dataclass(frozen=True)
class Source:
    """A retrieved chunk, numbered by rank (``n``); ``start`` is its offset in the document."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    text: str
    start: int
    score: float = 0.0  # the retrieval score it was ranked by


@dataclass(frozen=True)
class DraftSentence:
    """One answer sentence without its markers, and the source numbers it cites."""

    text: str
    markers: tuple[int, ...]
    raw: str = ""  # as written, markers included (they are renumbered when rendered)


@dataclass(frozen=True)
class Quote:
    """A passage a generator quotes from source ``n`` (``span``: its offsets in that source)."""

    n: int
    text: str
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class Draft:
    """A generator's answer before verification: its sentences, and quotes per source number.

    A quote's ``span`` (offsets into its source's text), when the generator knows it, is checked
    instead of searched for.
    """

    abstained: bool
    sentences: tuple[DraftSentence, ...]
    quotes: tuple[Quote, ...]
    reason: str | None = None
    confidence: float | None = None  # calibrated P(correct), when the generator estimates it
    abstain_code: str | None = None  # no_evidence | low_confidence | question_outside_corpus


def replace_markers(text: str, mapping: dict[int, list[int]]) -> str:
    """Rewrites ``[n]`` / ``[n, m]`` markers through ``mapping``; unmapped numbers disappear."""

    def sub(m: re.Match[str]) -> str:
        new: list[int] = []
        for part in re.split(r"[,;]", m.group(1)):
            for c in mapping.get(int(part.strip()), []):
                if c not in new:
                    new.append(c)
        return "".join(f"[{c}]" for c in new)

    out = MARKER_RE.sub(sub, text)
    out = re.sub(r"\s+([.,;:!?])", r"\1", out)
    return " ".join(out.split())


def marker_numbers(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for m in MARKER_RE.finditer(text):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part.strip())
            if n not in out:
                out.append(n)
    return tuple(out)


def draft_sentence(marked: str) -> DraftSentence:
    """A sentence written with ``[n]`` markers, as a draft sentence (markers split off)."""
    clean = " ".join(MARKER_RE.sub(" ", marked).split())
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
    return DraftSentence(text=clean, markers=marker_numbers(marked), raw=" ".join(marked.split()))
