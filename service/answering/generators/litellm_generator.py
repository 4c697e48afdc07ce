"""The LLM generator: every model call goes through ``litellm.completion``.

litellm is imported lazily (it takes seconds) and with its bundled model-cost map, so nothing is
downloaded at run time. This is the only module that turns evidence into prompt text (with
:mod:`prompts` and :mod:`.llm_format`) and parses model text back.

Example::

    gen = LiteLLMGenerator("openai/gpt-4o-mini")
    draft = gen.generate(GenerationRequest(question, analyze_question(question), sources)).draft
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from index.errors import GenerationError, GenerationTimeoutError
from index.text.sentences import split_sentences
from prompts import Prompt, load_prompt
from service.answering.evidence import Draft, Source
from service.answering.generators.llm_format import format_question, format_sources, parse_output
from service.answering.generators.llm_json import (
    RESPONSE_FORMAT,
    JsonSentenceStream,
    NotJsonError,
    looks_like_json,
    parse_json_reply,
)
from service.answering.generators.protocol import (
    Generation,
    GenerationRequest,
    StreamedSentence,
)

logger = logging.getLogger(__name__)

Message = Mapping[str, str]

# The <source ...> delimiters and title around each passage, in tokens.
_SOURCE_OVERHEAD_TOKENS = 24


class SchemaRefusedError(GenerationError):
    """The server rejected ``response_format`` (it cannot constrain output to a JSON schema)."""


_setup_lock = threading.Lock()
_litellm: Any = None


def get_litellm() -> Any:
    """Imports litellm once, quietly, with telemetry off and unknown parameters dropped."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _setup_lock:
        if _litellm is not None:
            return _litellm
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _litellm = litellm
        return litellm


class LiteLLMGenerator:
    """Any LLM through ``litellm.completion``: renders the prompt, calls the model with timeouts
    and retries, parses the reply into a :class:`Draft`.

    With ``structured`` (the default) the model is asked for JSON per sentence (source number
    and quote; ``response_format`` with a JSON schema). A server that refuses the schema is
    asked again in the marker format; a reply that is not JSON is read as markers, then as plain
    text (the verifier attributes marker-less sentences). ``max_prompt_tokens`` bounds the prompt:
    sources are kept in rank order until the estimate reaches it.
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        retries: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 700,
        completion_kwargs: Mapping[str, Any] | None = None,
        prompt_name: str = "answer",
        structured: bool = True,
        max_prompt_tokens: int | None = None,
    ) -> None:
        self._model = model.strip()
        self.api_base = api_base
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        # Extra litellm arguments for real models (e.g. ``mock_response`` in tests, ``fallbacks``).
        self.completion_kwargs = dict(completion_kwargs or {})
        self.prompt: Prompt = load_prompt(prompt_name)
        self.system_prompt: Prompt = load_prompt(f"{prompt_name}_system")
        self.structured = structured
        self.json_prompt: Prompt = load_prompt(f"{prompt_name}_json")
        self.json_system_prompt: Prompt = load_prompt(f"{prompt_name}_json_system")
        self.max_prompt_tokens = max_prompt_tokens

    @property
    def model(self) -> str:
        return self._model

    def messages(
        self, question: str, sources: Sequence[Source], *, structured: bool | None = None
    ) -> list[Message]:
        """The chat messages for ``question`` over ``sources``: the fixed rules first (a server
        reuses its cache of them), then the delimited data within the prompt budget."""
        use_json = self.structured if structured is None else structured
        system = self.json_system_prompt if use_json else self.system_prompt
        template = self.json_prompt if use_json else self.prompt
        fixed = estimate_tokens(system.text) + estimate_tokens(template.text)
        fixed += estimate_tokens(question)
        budget = None if self.max_prompt_tokens is None else self.max_prompt_tokens - fixed
        user = template.render(
            sources=format_sources(fit_sources(sources, budget)),
            question=format_question(question),
        )
        return [{"role": "system", "content": system.text}, {"role": "user", "content": user}]

    def generate(self, request: GenerationRequest) -> Generation:
        """One completion, parsed; provider errors become GenerationError(/Timeout)."""
        name = (request.model or self._model).strip()
        text, tokens = self._reply(request, name)
        return Generation(
            draft=parse_reply(text),
            model=name,
            generator="llm",
            raw_text=text,
            completion_tokens=tokens,
        )

    def _reply(self, request: GenerationRequest, name: str) -> tuple[str, int | None]:
        if not self.structured:
            return self.complete_full(
                self.messages(request.question, request.sources), name, request.timeout_s
            )
        try:
            return self.complete_full(
                self.messages(request.question, request.sources),
                name,
                request.timeout_s,
                response_format=RESPONSE_FORMAT,
            )
        except SchemaRefusedError as exc:
            logger.info("%s refused the JSON schema (%s); asking in the marker format", name, exc)
            messages = self.messages(request.question, request.sources, structured=False)
            return self.complete_full(messages, name, request.timeout_s)

    def stream(self, request: GenerationRequest) -> Iterator[StreamedSentence | Generation]:
        """The sentences of the JSON reply as each one completes, then the whole Generation."""
        name = (request.model or self._model).strip()
        if not self.structured:
            yield self.generate(request)
            return
        messages = self.messages(request.question, request.sources)
        parser = JsonSentenceStream()
        try:
            for delta in self._deltas(messages, name, request.timeout_s):
                for sentence, quote in parser.feed(delta):
                    yield StreamedSentence(sentence, (quote,) if quote else ())
        except SchemaRefusedError:
            yield self.generate(request)
            return
        yield Generation(
            draft=parse_reply(parser.text), model=name, generator="llm", raw_text=parser.text
        )

    def _deltas(
        self, messages: Sequence[Message], model: str, timeout_s: float | None
    ) -> Iterator[str]:
        kwargs = self._kwargs(messages, model, timeout_s, RESPONSE_FORMAT)
        kwargs["stream"] = True
        try:
            for chunk in get_litellm().completion(**kwargs):
                choices = getattr(chunk, "choices", None) or []
                delta = getattr(choices[0], "delta", None) if choices else None
                content = getattr(delta, "content", None) if delta is not None else None
                if isinstance(content, str) and content:
                    yield content
        except GenerationError:
            raise
        except Exception as exc:
            raise _convert(exc, model) from exc

    def complete(self, messages: Sequence[Message], model: str, timeout_s: float | None) -> str:
        """The raw reply text of ``model`` to ``messages`` (the condense step's call)."""
        return self.complete_full(messages, model, timeout_s)[0]

    def complete_full(
        self,
        messages: Sequence[Message],
        model: str,
        timeout_s: float | None,
        *,
        response_format: Mapping[str, Any] | None = None,
    ) -> tuple[str, int | None]:
        """The reply text and its completion tokens (when the server counts them)."""
        kwargs = self._kwargs(messages, model, timeout_s, response_format)
        try:
            response = get_litellm().completion(**kwargs)
            text = response.choices[0].message.content
        except GenerationError:
            raise
        except Exception as exc:
            raise _convert(exc, model) from exc
        if not isinstance(text, str):
            raise GenerationError(f"model {model} returned no text")
        usage = getattr(response, "usage", None)
        tokens = getattr(usage, "completion_tokens", None)
        return text, tokens if isinstance(tokens, int) else None

    def _kwargs(
        self,
        messages: Sequence[Message],
        model: str,
        timeout_s: float | None,
        response_format: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "timeout": timeout_s if timeout_s is not None else self.timeout_s,
            "num_retries": self.retries,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.completion_kwargs,
        }
        if response_format is not None:
            kwargs["response_format"] = dict(response_format)
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs


def parse_reply(text: str) -> Draft:
    """JSON if the reply is the JSON asked for, else the marker format, else plain prose."""
    if looks_like_json(text):
        try:
            return parse_json_reply(text)
        except NotJsonError as exc:
            logger.info("the JSON reply was unusable (%s); reading it as text", exc)
    return parse_output(text)


def estimate_tokens(text: str) -> int:
    """About four characters per token (English, BPE tokenizers); a bound, not a count."""
    return (len(text) + 3) // 4


def fit_sources(sources: Sequence[Source], budget: int | None) -> list[Source]:
    """Sources in rank order while they fit ``budget`` tokens; the first is always kept, cut at
    a sentence end when it alone is too long."""
    if budget is None:
        return list(sources)
    kept: list[Source] = []
    used = 0
    for s in sources:
        cost = estimate_tokens(s.text) + _SOURCE_OVERHEAD_TOKENS
        if used + cost > budget:
            if not kept:
                kept.append(replace(s, text=_cut(s.text, max(budget, 64) * 4)))
            break
        kept.append(s)
        used += cost
    return kept


def _cut(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    ends = [e for _s, e in split_sentences(text) if e <= chars]
    return text[: ends[-1]] if ends else text[:chars]


def _convert(exc: Exception, model: str) -> GenerationError:
    litellm = get_litellm()
    timeout_types: tuple[type[BaseException], ...] = (TimeoutError,)
    timeout_cls = getattr(litellm, "Timeout", None)
    if isinstance(timeout_cls, type):
        timeout_types += (timeout_cls,)
    message = " ".join(str(exc).split())[:300]
    if isinstance(exc, timeout_types) or "timed out" in message.lower():
        return GenerationTimeoutError(f"model {model} timed out: {message}")
    bad_request = getattr(litellm, "BadRequestError", None)
    if (
        isinstance(bad_request, type)
        and isinstance(exc, bad_request)
        and any(w in message.lower() for w in ("response_format", "json_schema", "schema"))
    ):
        return SchemaRefusedError(f"model {model} refused the JSON schema: {message}")
    return GenerationError(f"model {model} failed: {type(exc).__name__}: {message}")
