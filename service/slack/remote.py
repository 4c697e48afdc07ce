"""Answering through a running citeqa service (``citeqa slack --socket --url BASE_URL``).

The bot then needs neither the model nor the index: :class:`~service.client.CiteqaClient` POSTs
the question to ``BASE_URL/ask`` and rebuilds the ``Answer`` from the JSON body.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from service.answering.conversation import Turn
from service.answering.types import Answer
from service.client import CiteqaClient


class RemoteAnswerer:
    """An answer function backed by ``POST {base_url}/ask`` of a running citeqa service.

    Example::

        answer = RemoteAnswerer("http://127.0.0.1:8000")("How many troops were sent?")
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 90.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client = CiteqaClient(
            base_url, api_key=api_key, timeout_s=timeout_s, transport=transport
        )
        self.base_url = self.client.base_url

    def close(self) -> None:
        self.client.close()

    def __call__(self, question: str, *, history: Sequence[Turn] = ()) -> Answer:
        return self.client.ask(question, history=history)
