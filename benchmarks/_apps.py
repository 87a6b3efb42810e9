"""The benchmarked apps, built only from the public API that fastapi-events 0.12.2 and ours
share: ``EventHandlerASGIMiddleware``, ``dispatch`` and ``LocalHandler``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

__all__ = ["EVENT_NAME", "asgi_caller", "make_app"]

EVENT_NAME = "bench.event"

ASGIApp = Callable[..., Awaitable[None]]

_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}
_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _REQUEST


async def _send(message: dict[str, Any]) -> None:
    return None


def asgi_caller(app: ASGIApp) -> Callable[[], Awaitable[None]]:
    """One GET / through ``app``: the whole ASGI call, no network."""

    def call() -> Awaitable[None]:
        return app(dict(_SCOPE), _receive, _send)

    return call


async def _do_nothing(event: Any) -> None:
    return None


def _handler(extra_patterns: int) -> LocalHandler:
    handler = LocalHandler()
    for index in range(extra_patterns):
        handler.register(event_name=f"unrelated.{index}.*")(_do_nothing)
    handler.register(event_name=EVENT_NAME)(_do_nothing)
    return handler


def make_app(
    framework: str,
    *,
    events: int | None,
    extra_patterns: int = 0,
    middleware_options: dict[str, Any] | None = None,
) -> ASGIApp:
    """A one-route app; ``events=None`` is the bare app (no middleware, no dispatch)."""
    count = events or 0

    def dispatch_events() -> None:
        for index in range(count):
            dispatch(EVENT_NAME, {"index": index})

    if framework == "starlette":
        app = _starlette_app(dispatch_events)
    else:
        app = _fastapi_app(dispatch_events)
    if events is not None:
        options = middleware_options or {}
        app.add_middleware(
            EventHandlerASGIMiddleware, handlers=[_handler(extra_patterns)], **options
        )
    return app  # type: ignore[no-any-return]


def _starlette_app(dispatch_events: Callable[[], None]) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        dispatch_events()
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/", endpoint)])


def _fastapi_app(dispatch_events: Callable[[], None]) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def endpoint() -> dict[str, bool]:
        dispatch_events()
        return {"ok": True}

    return app
