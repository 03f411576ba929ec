"""The UI's ASGI application: the SPA's files, the ``/api`` routes, and the rules every answer obeys.

- Every ``/api`` request is authenticated first (``auth``); without a valid token the answer is
  401 with ``WWW-Authenticate: Bearer``, whatever the route, even one that does not exist.
- Every answer carries a Content-Security-Policy that allows scripts from this origin only (no
  inline script, no eval) and no framing: text from outputs or logs that looks like HTML can
  never run, even if a bug rendered it as HTML. The SPA also renders such text as text only.
- Unknown non-API paths answer the SPA's index.html, so a deep link (``/ns/x/executions/y``)
  survives a reload.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from overture.api import build_models
from overture.crd import flow_json_schema
from overture.ui import files, routes, streams
from overture.ui.auth import Authenticator
from overture.ui.kubeapi import KubeError
from overture.ui.store import NoStore, UiStore

log = logging.getLogger("overture.ui")
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; "
    # CodeMirror writes its theme into <style> elements at run time; styles cannot run code.
    "style-src 'self' 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Settings:
    mode: str  # token, kubeconfig or impersonate
    namespace: str  # shown first, and the one offered when the caller may not list namespaces


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every answer, API and files alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "a valid bearer token is needed (Authorization: Bearer <token>)"},
        401,
        headers={"WWW-Authenticate": 'Bearer realm="overture"'},
    )


def authenticate(
    authenticator: Authenticator,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/api/") and request.url.path != "/api":
            return await call_next(request)
        try:
            caller = await authenticator.authenticate(request.headers)
        except KubeError as exc:
            log.warning("Failed to check a token: status=%s %s", exc.status, exc.message)
            return JSONResponse({"error": f"the API server could not check the token: {exc.message}"}, 503)
        if caller is None:
            return _unauthorized()
        request.state.caller = caller
        return await call_next(request)

    return middleware


def _index(static: Path) -> Callable[[Request], Awaitable[Response]]:
    async def index(request: Request) -> Response:
        page = static / "index.html"
        if not page.is_file():
            return PlainTextResponse(
                "The UI's files are not built: run `make ui` (npm ci && npm run build in ui/).", 503
            )
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    return index


async def _api_not_found(request: Request) -> JSONResponse:
    return JSONResponse({"error": f"no such API route: {request.url.path}"}, 404)


def create_app(
    authenticator: Authenticator, settings: Settings, static: Path = STATIC, store: UiStore | None = None
) -> Starlette:
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await authenticator.close()

    index = _index(static)
    app = Starlette(
        routes=[
            *routes.ROUTES,
            *streams.ROUTES,
            *files.ROUTES,
            Route("/api/{rest:path}", _api_not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/healthz", lambda _: PlainTextResponse("ok")),
            Mount("/assets", app=StaticFiles(directory=static / "assets", check_dir=False), name="assets"),
            Route("/{rest:path}", index),
        ],
        middleware=[Middleware(SecurityHeaders), Middleware(BaseHTTPMiddleware, dispatch=authenticate(authenticator))],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store or NoStore()
    app.state.flow_schema = flow_json_schema(nested_tasks=False)  # its editor's linter breaks on $ref
    build_models()  # now, not in the first requests (models build on first use)
    return app
