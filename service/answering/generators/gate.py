"""``EvidenceGate``: the LLM answers only questions the retrieved sources are about.

An LLM asked about something the documents never mention tends to answer anyway from a passage
that shares a few words (and such a sentence can pass word-overlap verification). The default
answerer's question analysis already tells that case apart (the question's rare words are absent
from every passage, or no sentence is a candidate at all), so the gate asks it and abstains with
its reason; everything else goes to the wrapped chain untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from service.answering.generators.protocol import (
    Generation,
    GenerationRequest,
    Generator,
    StreamedSentence,
    StreamingGenerator,
    is_extractive,
    normalize_model,
)

# The default answerer's abstentions that mean "the sources are not about this question" (a
# low-confidence abstention means "no clear answer", which an LLM may still find); the strict
# gate (``CITEQA_LLM_GATE=any``) also follows those.
OUTSIDE_CODES = frozenset({"question_outside_corpus", "no_evidence"})
ANY_CODES = OUTSIDE_CODES | {"low_confidence"}


class EvidenceGate:
    """Wraps ``inner`` (the LLM chain); ``judge`` (the default answerer) vetoes off-topic
    questions. ``generate`` still calls the model, so its reply stays on record (the eval's naive
    baseline reads it); ``stream`` asks the judge first and skips the model."""

    def __init__(
        self, inner: StreamingGenerator, judge: Generator, codes: frozenset[str] = OUTSIDE_CODES
    ) -> None:
        self.inner = inner
        self.judge = judge
        self.codes = codes

    @property
    def model(self) -> str:
        return self.inner.model

    def _veto(self, request: GenerationRequest) -> Generation | None:
        model = normalize_model(request.model or self.inner.model)
        if is_extractive(model):
            return None
        verdict = self.judge.generate(request)
        if (
            verdict.draft.abstained
            and (verdict.draft.abstain_code or "low_confidence") in self.codes
        ):
            return replace(verdict, model=model, generator="llm")
        return None

    def generate(self, request: GenerationRequest) -> Generation:
        gen = self.inner.generate(request)
        if gen.draft.abstained or gen.degraded:
            return gen
        veto = self._veto(request)
        if veto is None:
            return gen
        return replace(veto, raw_text=gen.raw_text, completion_tokens=gen.completion_tokens)

    def stream(self, request: GenerationRequest) -> Iterator[StreamedSentence | Generation]:
        veto = self._veto(request)
        if veto is not None:
            yield veto
            return
        yield from self.inner.stream(request)
