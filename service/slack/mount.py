"""The Slack adapter's HTTP extension (entry point ``citeqa.http_extensions``): mounts
``POST /slack/events`` when both ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` are set.

slack-bolt is imported only then, so a service without Slack never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from service.settings import Settings


def mount_if_configured(app: FastAPI, settings: Settings, get_answerer: Callable[[], Any]) -> None:
    if not (settings.slack_bot_token and settings.slack_signing_secret):
        return
    from service.slack.http import mount

    mount(app, settings, get_answerer)
