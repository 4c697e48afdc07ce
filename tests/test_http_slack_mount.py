"""create_app mounts the Slack adapter only when both Slack settings are present."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from index.errors import ServiceNotReadyError
from service.http.app import create_app
from service.settings import Settings
from tests.fakes import fake_parts


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []

    def mount(app: FastAPI, settings: Settings, get_pipeline: Any) -> None:
        calls.append((app, settings, get_pipeline))

        @app.post("/slack/events")
        async def events() -> JSONResponse:
            return JSONResponse({"ok": True})

    module = types.ModuleType("service.slack.http")
    module.mount = mount  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "service.slack.http", module)
    return calls


def test_slack_not_mounted_without_settings(fake_slack: list[Any]) -> None:
    create_app(Settings(slack_bot_token="xoxb-1"))  # type: ignore[arg-type]
    assert fake_slack == []


def test_slack_mounted_with_lazy_pipeline_and_own_auth(fake_slack: list[Any]) -> None:
    release = threading.Event()
    parts = fake_parts()

    def loader(settings: Settings) -> Any:
        assert release.wait(10)
        return parts

    settings = Settings(
        index_dir=Path("/nonexistent"),
        slack_bot_token="xoxb-1",  # type: ignore[arg-type]
        slack_signing_secret="shh",  # type: ignore[arg-type]
        api_keys="k1",  # type: ignore[arg-type]
    )
    app = create_app(settings, loader=loader)
    assert len(fake_slack) == 1
    mounted_app, mounted_settings, get_pipeline = fake_slack[0]
    assert mounted_app is app
    assert mounted_settings is settings
    with TestClient(app) as c:
        with pytest.raises(ServiceNotReadyError):
            get_pipeline()
        # Slack signs its requests instead of sending our API key.
        assert c.post("/slack/events").status_code == 200
        assert c.post("/ask", json={"question": "x"}).status_code == 401
        release.set()
        assert app.state.citeqa.state.ready_event.wait(10)
        assert get_pipeline() is parts[1]
