"""The composition root: settings in, a ready index and :class:`Answerer` out.

Every entry point (HTTP, Slack, CLI, eval, bench) builds what it serves here, so "which embedder,
which index folder, which generator chain" is decided in one place. Heavy libraries (torch,
faiss, litellm) are imported inside the functions, never when this module is imported.

Example::

    settings = Settings()
    index, answerer = load_components(settings)
    print(answerer.answer("Who signed the mutual defense pact?").answer)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from service.settings import Settings

if TYPE_CHECKING:
    from index.corpus import CorpusIndex
    from index.embedders.protocol import Embedder
    from index.models import IngestReport
    from index.pg_corpus import PostgresCorpusIndex
    from index.storage.claims import KeyClaims
    from service.answering.conversation import QuestionRewriter
    from service.answering.generators.extractive.generator import VectorSource
    from service.answering.generators.protocol import Generator
    from service.answering.pipeline import AnswerPipeline
    from service.answering.protocol import AnsweringIndex

logger = logging.getLogger(__name__)

PROMPT_NAME = "answer"


def load_embedder(settings: Settings) -> Embedder:
    """The configured embedder (hash-verified weights; ONNX export or torch)."""
    from index.embedders.factory import load_default_embedder

    return load_default_embedder(settings.embedder)


def open_index(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    index_dir: Path | None = None,
    build_from_seeds: bool = True,
    on_build: Callable[[Path, Path], None] | None = None,
) -> CorpusIndex | PostgresCorpusIndex:
    """Opens the index; when the default one is missing, builds it from the seeds first.

    An explicit ``index_dir`` that holds no index is an error, never silently filled with the
    seeds. ``on_build(index_dir, seeds_dir)`` is told before a build starts. With
    ``database_url`` set (and no explicit ``index_dir``) the index is the database's.
    """
    from index.corpus import CorpusIndex, build_index
    from index.errors import IndexNotFoundError

    path = index_dir or settings.index_dir
    embedder = embedder or load_embedder(settings)
    if settings.database_url is not None and index_dir is None:
        pg = open_database_index(settings, embedder)
        seeds = settings.seeds_dir
        if build_from_seeds and seeds.is_dir() and pg.n_documents == 0:
            logger.info("the database holds no documents; ingesting %s", seeds)
            if on_build is not None:
                on_build(Path("database"), seeds)
            pg.ingest_paths([seeds], settings.max_file_bytes)
        return pg
    try:
        return CorpusIndex.open(path, embedder)
    except IndexNotFoundError:
        seeds = settings.seeds_dir
        if not build_from_seeds or index_dir is not None or not seeds.is_dir():
            raise
        logger.info("no index in %s; building one from %s", path, seeds)
        if on_build is not None:
            on_build(path, seeds)
        build_index([seeds], path, embedder)
        return CorpusIndex.open(path, embedder)


def ingest(
    settings: Settings,
    paths: Sequence[Path],
    *,
    index_dir: Path | None = None,
    rebuild: bool = False,
    progress: Callable[[int, int], None] | None = None,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Adds files and folders to the index (created if absent; replaced with ``rebuild``)."""
    from index.corpus import build_index

    if settings.database_url is not None and index_dir is None:
        pg = open_database_index(settings, embedder or load_embedder(settings))
        try:
            return pg.ingest_paths(
                list(paths), settings.max_file_bytes, progress, replace_all=rebuild
            )
        finally:
            pg.close()
    return build_index(
        list(paths),
        index_dir or settings.index_dir,
        embedder or load_embedder(settings),
        rebuild=rebuild,
        progress=progress,
        max_bytes=settings.max_file_bytes,
    )


def open_database_index(settings: Settings, embedder: Embedder) -> PostgresCorpusIndex:
    """The PostgreSQL + pgvector index at ``settings.database_url`` (schema migrated)."""
    from index.pg_corpus import PostgresCorpusIndex

    if settings.database_url is None:
        raise ValueError("database_url is not set")
    return PostgresCorpusIndex.open(settings.database_url.get_secret_value(), embedder)


def shared_claims(settings: Settings) -> Callable[[str, float], KeyClaims] | None:
    """With a database, a factory of claims every worker shares (``namespace, ttl_s``); else
    None, and each process keeps its own in memory."""
    if settings.database_url is None:
        return None
    from psycopg_pool import ConnectionPool

    from index.storage.pg_claims import PostgresClaims

    pool = ConnectionPool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=4,
        kwargs={"autocommit": True},
        open=True,
    )

    def make(namespace: str, ttl_s: float) -> KeyClaims:
        return PostgresClaims(pool, namespace, ttl_s=ttl_s)

    return make


def prompt_version(name: str = PROMPT_NAME) -> str:
    """The version of the prompt set the service answers with (recorded in every answer)."""
    from index.hashing import short_hash
    from prompts import load_prompt

    parts = (f"{name}_system", name, f"{name}_json_system", f"{name}_json")
    return short_hash(*(load_prompt(p).text for p in parts), length=12)


def build_generator(settings: Settings, vectors: VectorSource) -> Generator:
    """The generator chain: the configured LLM, its fallback model, then the extractive one
    (which reads sentence and query vectors from ``vectors``, the index)."""
    from service.answering.generators.extractive import ExtractiveGenerator
    from service.answering.generators.fallback import FallbackGenerator
    from service.answering.generators.gate import ANY_CODES, OUTSIDE_CODES, EvidenceGate
    from service.answering.generators.litellm_generator import LiteLLMGenerator
    from service.answering.generators.protocol import is_extractive

    extractive = ExtractiveGenerator(vectors)
    llm = None
    if not is_extractive(settings.llm_model) or settings.llm_fallback_model:
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        llm = LiteLLMGenerator(
            settings.llm_model,
            api_base=settings.llm_api_base,
            api_key=api_key,
            timeout_s=settings.llm_timeout_s,
            retries=settings.llm_retries,
            prompt_name=PROMPT_NAME,
            structured=settings.llm_structured,
            max_prompt_tokens=settings.llm_max_prompt_tokens,
            max_tokens=settings.llm_max_tokens,
        )
    chain = FallbackGenerator(
        settings.llm_model,
        extractive,
        llm=llm,
        fallback_model=settings.llm_fallback_model,
        deadline_s=settings.answer_deadline_s,
    )
    if llm is None or settings.llm_gate == "off":
        return chain
    codes = ANY_CODES if settings.llm_gate == "any" else OUTSIDE_CODES
    return EvidenceGate(chain, extractive, codes)


def build_rewriter(settings: Settings) -> QuestionRewriter:
    """How follow-ups become standalone queries: the deterministic rules, or with an LLM
    configured, an LLM condense step with the rules as its fallback."""
    from service.answering.conversation import FallbackRewriter, RuleRewriter
    from service.answering.generators.litellm_generator import LiteLLMGenerator
    from service.answering.generators.litellm_rewriter import LiteLLMRewriter
    from service.answering.generators.protocol import is_extractive

    rules = RuleRewriter()
    if is_extractive(settings.llm_model):
        return rules
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    llm = LiteLLMGenerator(
        settings.llm_model,
        api_base=settings.llm_api_base,
        api_key=api_key,
        timeout_s=settings.llm_timeout_s,
        retries=settings.llm_retries,
        max_tokens=200,
    )
    return FallbackRewriter(LiteLLMRewriter(llm), rules)


def build_answerer(
    settings: Settings,
    index: AnsweringIndex,
    *,
    generator: Generator | None = None,
    rewriter: QuestionRewriter | None = None,
) -> AnswerPipeline:
    """The pipeline over ``index`` with the configured (or the given) generator and rewriter."""
    from service.answering.pipeline import AnswerPipeline

    return AnswerPipeline(
        index,
        generator or build_generator(settings, index),
        prompt_version=prompt_version(),
        default_top_k=settings.top_k,
        retrieval=settings.retrieval,
        rewriter=rewriter or build_rewriter(settings),
    )


def load_components(
    settings: Settings,
) -> tuple[CorpusIndex | PostgresCorpusIndex, AnswerPipeline]:
    """Embedder, index (built from the seeds when absent) and pipeline, timed in the log."""
    t0 = time.perf_counter()
    embedder = load_embedder(settings)
    t1 = time.perf_counter()
    index = open_index(settings, embedder=embedder)
    t2 = time.perf_counter()
    answerer = build_answerer(settings, index)
    logger.info(
        "loaded embedder in %.2fs, index (%d documents, %d chunks) in %.2fs, pipeline in %.2fs",
        t1 - t0,
        index.n_documents,
        index.n_chunks,
        t2 - t1,
        time.perf_counter() - t2,
    )
    return index, answerer


def preload_llm_library() -> None:
    """Imports litellm (~3 s) when an LLM is configured, so the first answer does not pay it."""
    from service.answering.generators.litellm_generator import get_litellm

    get_litellm()


def plugins(group: str) -> list[object]:
    """The objects registered under entry-point ``group`` in pyproject.toml, sorted by name.

    Adapters plug into each other this way (a Slack route into the HTTP app, commands into the
    CLI) without importing one another.
    """
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=group), key=lambda ep: ep.name)
    if not found:
        raise RuntimeError(
            f"no {group!r} entry points: the citeqa package is not installed; run `make setup`"
        )
    return [ep.load() for ep in found]
