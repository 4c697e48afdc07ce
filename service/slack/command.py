"""``citeqa slack --socket [--url BASE_URL]``: run the Slack bot in Socket Mode.

HTTP mode needs no command of its own: ``citeqa serve`` mounts ``POST /slack/events`` when
``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` are set.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.answering.conversation import Turn
    from service.answering.protocol import Answerer
    from service.answering.types import Answer
    from service.slack.bot import AnswerFn

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``slack``."""
    parser = sub.add_parser(
        "slack",
        help="run the Slack bot in Socket Mode",
        description=(
            "Run the Slack bot over Socket Mode (no public URL needed). Needs SLACK_BOT_TOKEN and "
            "SLACK_APP_TOKEN (an app-level token with connections:write). Answers in-process from "
            "the index, or through a running citeqa service with --url. For the HTTP Events API, "
            "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET and run `citeqa serve` instead."
        ),
    )
    parser.add_argument(
        "--socket", action="store_true", help="connect to Slack in Socket Mode (required)"
    )
    parser.add_argument(
        "--url",
        metavar="BASE_URL",
        help="answer through the citeqa service at BASE_URL (POST BASE_URL/ask) instead of "
        "loading the index here",
    )
    parser.add_argument(
        "--api-key",
        help="API key for --url (default: the first of CITEQA_API_KEYS, if set)",
    )
    parser.add_argument("--index-dir", type=Path, help="index folder (default: CITEQA_INDEX_DIR)")
    parser.set_defaults(func=slack_command)


def pipeline_answer_fn(pipeline: Answerer) -> AnswerFn:
    """The pipeline as the bot's answer function (history passed by keyword)."""

    def answer(question: str, *, history: Sequence[Turn] = ()) -> Answer:
        return pipeline.answer(question, history=history)

    return answer


def _fail(message: str) -> int:
    print(f"citeqa slack: {message}", file=sys.stderr)
    return 2


def slack_command(args: argparse.Namespace) -> int:
    from service.settings import Settings
    from service.slack.bot import build_bot
    from service.slack.socket import serve_socket_mode

    if not args.socket:
        return _fail(
            "only Socket Mode runs here: use `citeqa slack --socket`; for the HTTP Events API set "
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET and run `citeqa serve`"
        )
    settings = Settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
    if settings.slack_bot_token is None:
        return _fail("set SLACK_BOT_TOKEN (the bot token, xoxb-…)")
    if settings.slack_app_token is None:
        return _fail("set SLACK_APP_TOKEN (an app-level token, xapp-…, with connections:write)")

    answer_fn: AnswerFn
    if args.url:
        from service.slack.remote import RemoteAnswerer

        api_key = args.api_key or (
            settings.api_keys[0].get_secret_value() if settings.api_keys else None
        )
        answer_fn = RemoteAnswerer(args.url, api_key=api_key)
        print(f"citeqa slack: answering through {args.url}", file=sys.stderr)
    else:
        from service import wiring

        print(f"citeqa slack: loading the index from {settings.index_dir} …", file=sys.stderr)
        _, pipeline = wiring.load_components(settings)
        answer_fn = pipeline_answer_fn(pipeline)

    bot = build_bot(settings, answer_fn, socket_mode=True)
    print("citeqa slack: connecting in Socket Mode; Ctrl-C to stop", file=sys.stderr)
    asyncio.run(serve_socket_mode(bot, settings.slack_app_token.get_secret_value()))
    return 0
