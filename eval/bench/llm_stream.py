"""``citeqa bench --llm``: how long after the model finished writing a sentence citeqa sends it,
verified, and how the first verified sentence compares with the raw server on the same prompt.

For each question the pipeline streams (``answer_stream``) while a wrapper around the generator
stamps the moment each sentence's JSON object was complete in the model's token stream; the
delay is the time from that stamp to the moment the pipeline yields the verified sentence (one
run, so the prompt and the model's output are the same). Then the raw server is asked with the
very messages the generator sent, streamed, and the time to its first complete sentence object
is measured from the request. Needs ``CITEQA_LLM_MODEL`` / ``CITEQA_LLM_API_BASE`` (e.g. a
``citeqa llm serve``).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from service.answering.generators.llm_json import RESPONSE_FORMAT, JsonSentenceStream
from service.answering.generators.protocol import (
    Generation,
    GenerationRequest,
    StreamedSentence,
    StreamingGenerator,
)

QUESTIONS = (
    "Who signed the mutual defense pact?",
    "In what month and year was the North Korea-Russia defense agreement signed?",
    "Where were North Korean troops deployed?",
)


@dataclass
class StampedStream:
    """Wraps the generator; records when each streamed sentence was complete in the stream."""

    inner: StreamingGenerator
    stamps: list[float] = field(default_factory=list)
    request: GenerationRequest | None = None

    @property
    def model(self) -> str:
        return self.inner.model

    def generate(self, request: GenerationRequest) -> Generation:
        return self.inner.generate(request)

    def stream(self, request: GenerationRequest) -> Iterator[StreamedSentence | Generation]:
        self.request = request
        for item in self.inner.stream(request):
            if isinstance(item, StreamedSentence):
                self.stamps.append(time.perf_counter())
            yield item


def _raw_first_sentence_s(
    api_base: str, api_key: str | None, model: str, messages: list[dict[str, str]], max_tokens: int
) -> tuple[float | None, float]:
    """Seconds to the raw server's first complete sentence object, and to its last byte."""
    body: dict[str, Any] = {
        "model": model.split("/", 1)[-1],
        "messages": messages,
        "stream": True,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "response_format": RESPONSE_FORMAT,
    }
    headers = {"Authorization": f"Bearer {api_key or 'none'}"}
    parser = JsonSentenceStream()
    first: float | None = None
    started = time.perf_counter()
    url = api_base.rstrip("/") + "/chat/completions"
    with (
        httpx.Client(timeout=300.0) as client,
        client.stream("POST", url, json=body, headers=headers) as r,
    ):
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            choices = chunk.get("choices") or [{}]
            delta = (choices[0].get("delta") or {}).get("content") or ""
            if parser.feed(delta) and first is None:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


def _stream_once(
    pipeline: Any, stamped: StampedStream, question: str
) -> tuple[float | None, list[float], int]:
    """Seconds to the first verified sentence, each sentence's delay after the model wrote it
    (stamps and yields pair in order; a sentence that failed verification is never yielded,
    so only runs where every stamped sentence was yielded pair exactly), sentences yielded."""
    stamped.stamps.clear()
    started = time.perf_counter()
    yields: list[float] = []
    for event in pipeline.answer_stream(question):
        if event.answer is None:
            yields.append(time.perf_counter())
    pairs = zip(stamped.stamps, yields, strict=False) if len(yields) == len(stamped.stamps) else ()
    delays = [y - s for s, y in pairs]
    return (yields[0] - started) if yields else None, delays, len(yields)


def llm_bench(settings: Any, rounds: int = 1) -> dict[str, Any]:
    """Per question: delay of every verified sentence after the model wrote it, first verified
    sentence from the request, and the raw server's first sentence on the same messages."""
    from service import wiring
    from service.answering.generators.litellm_generator import LiteLLMGenerator
    from service.answering.pipeline import AnswerPipeline

    index = wiring.open_index(settings)
    chain = wiring.build_generator(settings, index)
    stamped = StampedStream(chain)  # type: ignore[arg-type]
    pipeline: AnswerPipeline = wiring.build_answerer(settings, index, generator=stamped)
    llm = LiteLLMGenerator(
        settings.llm_model,
        prompt_name=wiring.PROMPT_NAME,
        max_prompt_tokens=settings.llm_max_prompt_tokens,
    )
    rows: list[dict[str, Any]] = []
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    for _ in range(rounds):
        for question in QUESTIONS:
            # The server caches the last prompt: a first pass warms it with this question's
            # prompt, so the raw request and the measured pass below both start from it.
            _stream_once(pipeline, stamped, question)
            request = stamped.request
            raw_first = None
            if request is not None:
                messages = [dict(m) for m in llm.messages(request.question, request.sources)]
                raw_first, _raw_total = _raw_first_sentence_s(
                    settings.llm_api_base or "",
                    key,
                    settings.llm_model,
                    messages,
                    settings.llm_max_tokens,
                )
            first, delays, n = _stream_once(pipeline, stamped, question)
            rows.append(
                {
                    "question": question,
                    "sentences_streamed": n,
                    "first_verified_s": first,
                    "delay_after_model_ms": [round(d * 1000.0, 1) for d in delays],
                    "raw_first_sentence_s": raw_first,
                }
            )
    all_delays = [d for r in rows for d in r["delay_after_model_ms"]]
    return {
        "model": settings.llm_model,
        "rows": rows,
        "max_delay_ms": max(all_delays) if all_delays else None,
        "median_delay_ms": statistics.median(all_delays) if all_delays else None,
    }


def print_llm_bench(result: dict[str, Any]) -> None:
    print(f"LLM streaming bench, model {result['model']}")
    print(
        "| question | sentences | first verified (s) | raw server first sentence (s) "
        "| delay after the model wrote it (ms) |"
    )
    print("|---|---|---|---|---|")
    for r in result["rows"]:
        first = f"{r['first_verified_s']:.2f}" if r["first_verified_s"] is not None else "-"
        raw = f"{r['raw_first_sentence_s']:.2f}" if r["raw_first_sentence_s"] is not None else "-"
        delays = ", ".join(f"{d:.1f}" for d in r["delay_after_model_ms"]) or "-"
        print(f"| {r['question']} | {r['sentences_streamed']} | {first} | {raw} | {delays} |")
    print(f"max delay {result['max_delay_ms']} ms, median {result['median_delay_ms']} ms")
