"""Test doubles, one per protocol, and the helpers that serve them; none needs a model or network.

- ``embedder``: ``HashingEmbedder``, the fake ``Embedder``
- ``index``: ``FakeIndex``, the fake index (search, writes, listing)
- ``answerer``: ``FakeAnswerer``, the fake ``Answerer`` (and the Slack bot's answer function)
- ``completer``: ``FakeCompleter``, the fake LLM ``Completer`` of the condense step
- ``generator``: ``FakeGenerator``, the fake ``Generator`` / ``StreamingGenerator`` (queued replies)
- ``documents``: ``FakeDocumentFactory``, the fake ``DocumentFactory``; ``FakeReport``
- ``corpus``: the seed documents and the fakes built over them
- ``servers``: an app served by uvicorn in a thread (``live_server``, ``ServerThread``)
- ``slack``: ``FakeSlack``, a fake of slack.com, and Slack request signing and payloads
"""

from tests.fakes.answerer import (
    ABSTAIN_TEXT,
    MIN_OVERLAP_SHARE,
    SEED_QUOTE,
    FakeAnswerer,
    generation_failure,
    sample_answer,
)
from tests.fakes.completer import FakeCompleter
from tests.fakes.corpus import SEEDS_DIR, fake_parts, make_document, seed_documents, seed_fake_index
from tests.fakes.documents import FakeDocumentFactory, FakeReport
from tests.fakes.embedder import HASHING_MODEL_NAME, HashingEmbedder
from tests.fakes.generator import FakeGenerator
from tests.fakes.index import MAX_CHUNKS_PER_DOCUMENT, FakeIndex, line_chunks, overlap_share
from tests.fakes.servers import ServerThread, live_server
from tests.fakes.slack import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    Call,
    FakeSlack,
    block_texts,
    event_body,
    form_body,
    post_signed,
    sign,
)

__all__ = [
    "ABSTAIN_TEXT",
    "APP_TOKEN",
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "HASHING_MODEL_NAME",
    "MAX_CHUNKS_PER_DOCUMENT",
    "MIN_OVERLAP_SHARE",
    "SEEDS_DIR",
    "SEED_QUOTE",
    "SIGNING_SECRET",
    "TEAM_ID",
    "Call",
    "FakeAnswerer",
    "FakeCompleter",
    "FakeDocumentFactory",
    "FakeGenerator",
    "FakeIndex",
    "FakeReport",
    "FakeSlack",
    "HashingEmbedder",
    "ServerThread",
    "block_texts",
    "event_body",
    "fake_parts",
    "form_body",
    "generation_failure",
    "line_chunks",
    "live_server",
    "make_document",
    "overlap_share",
    "post_signed",
    "sample_answer",
    "seed_documents",
    "seed_fake_index",
    "sign",
]
