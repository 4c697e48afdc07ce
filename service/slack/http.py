"""HTTP Events API mode: ``POST /slack/events`` on the service's FastAPI app.

``create_app`` calls ``mount`` when both ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` are set.
bolt checks every request's signature and timestamp (older than 5 minutes fails) and answers 401;
events, slash commands and button clicks all arrive on this one URL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

from service.answering.conversation import Turn
from service.answering.types import Answer
from service.settings import Settings
from service.slack.bot import CiteqaSlackBot, build_bot

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class Answering(Protocol):
    """What the bot needs of the pipeline."""

    def answer(self, question: str, *, history: Sequence[Turn] = ()) -> Answer: ...


def mount(
    app: FastAPI, settings: Settings, get_pipeline: Callable[[], Answering]
) -> CiteqaSlackBot:
    """Adds ``POST /slack/events`` to ``app``; answers go through ``get_pipeline().answer``.

    ``get_pipeline`` is called per question, so the route can exist before the index has loaded
    (it raises ``ServiceNotReadyError`` meanwhile, which the bot turns into a polite reply).
    """
    if settings.slack_signing_secret is None:
        raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET")

    def answer(question: str, *, history: Sequence[Turn] = ()) -> Answer:
        if history:
            return get_pipeline().answer(question, history=history)
        return get_pipeline().answer(question)

    bot = build_bot(settings, answer, socket_mode=False)
    handler = AsyncSlackRequestHandler(bot.app)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    app.add_api_route(EVENTS_PATH, slack_events, methods=["POST"], include_in_schema=False)
    _drain_on_shutdown(app, bot)
    app.state.slack_bot = bot
    logger.info("Slack Events API mounted at %s", EVENTS_PATH)
    return bot


def _drain_on_shutdown(app: FastAPI, bot: CiteqaSlackBot, timeout_s: float = 30.0) -> None:
    # Slack was already told "received", so an answer still being made when the server stops
    # would be lost without a word; give in-flight answers time to be posted first.
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            try:
                yield state
            finally:
                if bot.pending:
                    logger.info("waiting for %d Slack answer(s) before stopping", bot.pending)
                await bot.drain(timeout_s=timeout_s)

    app.router.lifespan_context = lifespan
