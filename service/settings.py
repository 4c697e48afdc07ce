"""Settings, read once at the edges (CLI, HTTP app, Slack bot) and passed down explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of citeqa; env variables use the ``CITEQA_`` prefix (Slack's use ``SLACK_``).

    Example::

        settings = Settings(index_dir=Path("/tmp/idx"))
    """

    model_config = SettingsConfigDict(env_prefix="CITEQA_", extra="ignore", frozen=True)

    # Corpus and index
    index_dir: Path = Path(".citeqa/index")
    # Set: the corpus (and state shared by workers) lives in PostgreSQL + pgvector at this URL
    # instead of the embedded index folder. Unset: the embedded default.
    database_url: SecretStr | None = None
    # How often a serving worker checks for index writes made by other workers (0: never).
    reload_interval_s: float = Field(default=0.5, ge=0)
    seeds_dir: Path = REPO_ROOT / "seeds"
    max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    # ONNX Runtime (exported once from the verified packaged weights) keeps torch off the serving
    # path: int8 queries, fp32 documents; see index/onnx_embedder.py for the measured figures.
    embedder: Literal["torch", "onnx"] = "onnx"

    # Retrieval and answering
    retrieval: Literal["hybrid", "dense", "bm25"] = "hybrid"
    top_k: int = Field(default=5, ge=1, le=50)
    llm_model: str = "extractive"
    llm_api_base: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0)
    llm_retries: int = Field(default=1, ge=0, le=5)
    llm_fallback_model: str | None = None
    # Ask for JSON per sentence (source + quote) with response_format; off: the marker format.
    llm_structured: bool = True
    # Prompt budget (estimated tokens): a 0.5B model on 2 CPU cores reads ~100 prompt tokens/s,
    # so ~900 tokens keep the first sentence within seconds; the rules come first (cached).
    llm_max_prompt_tokens: int = Field(default=900, ge=200)
    llm_max_tokens: int = Field(default=400, ge=16)
    # Which of the default answerer's abstentions veto an LLM answer: "outside" (the sources are
    # not about the question), "any" (also low confidence), "off".
    llm_gate: Literal["outside", "any", "off"] = "outside"
    answer_deadline_s: float = Field(default=45.0, gt=0)

    # Conversations (follow-up questions): limits on the history a request may carry, and the
    # server-side conversations kept with the index (``conversation_id``).
    history_max_turns: int = Field(default=20, ge=1, le=200)
    history_max_answer_chars: int = Field(default=20_000, ge=100, le=100_000)
    history_max_citations: int = Field(default=50, ge=0, le=200)
    conversation_ttl_s: float = Field(default=24 * 60 * 60.0, gt=0)

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_keys: Annotated[list[SecretStr], NoDecode] = []
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    request_deadline_s: float = Field(default=60.0, gt=0)

    # Slack (standard Slack variable names, no prefix)
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url")
    )
    slack_ephemeral: bool = True
    feedback_file: Path = Path(".citeqa/feedback.jsonl")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value
