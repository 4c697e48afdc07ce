"""Socket Mode: the bot opens a WebSocket to Slack, so it needs no public URL.

Events, slash commands and clicks arrive as envelopes on the socket; slack-bolt acks each one and
dispatches it to the same listeners as HTTP mode. The Web API calls (posting answers) still go
over HTTPS, to ``SLACK_API_URL`` when set.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from service.slack.bot import CiteqaSlackBot

logger = logging.getLogger(__name__)


async def serve_socket_mode(
    bot: CiteqaSlackBot, app_token: str, stop: asyncio.Event | None = None
) -> None:
    """Connects with the app-level token (``xapp-…``) and serves until ``stop`` is set, or, when
    no ``stop`` is given, until SIGTERM/SIGINT. In-flight answers get time to finish first."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    handler = AsyncSocketModeHandler(bot.app, app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    logger.info("connected to Slack in Socket Mode")
    try:
        await stop.wait()
    finally:
        await bot.drain(timeout_s=30.0)
        await handler.close_async()  # type: ignore[no-untyped-call]
        logger.info("Socket Mode connection closed")
