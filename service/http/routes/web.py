"""The web page: ``GET /`` (``static/index.html``) and its assets under ``/static/``.

Plain files shipped in the package (no build step). Every page response carries a strict
Content-Security-Policy: scripts, styles and fetches only from this origin, no inline code, no
eval, no framing, and Trusted Types so that no string can reach ``innerHTML``. The API routes
are not given these headers (``/docs`` loads Swagger UI from a CDN).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_PREFIX = "/static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

router = APIRouter(include_in_schema=False)


class _PageStaticFiles(StaticFiles):
    """``StaticFiles`` (ETag, 304, HEAD) plus the page's security headers."""

    # Metrics and access logs label requests by ``scope["route"].path``; a Mount sets none, so
    # without this every asset would count as "<unmatched>" next to real 404s.
    _route = SimpleNamespace(path=f"{STATIC_PREFIX}/{{path}}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self._route
        await super().__call__(scope, receive, send)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        # Asset names are not content-hashed: let the browser revalidate (cheap 304s).
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


@router.api_route("/", methods=["GET", "HEAD"])
async def index_page() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


def mount(app: FastAPI) -> None:
    """Adds ``GET /`` and ``/static/...`` to ``app``."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, _PageStaticFiles(directory=STATIC_DIR), name="static")
