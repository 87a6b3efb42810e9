"""The Litestar plugin: one shared pipeline for every route, and draining at shutdown."""

# No `from __future__ import annotations`: Litestar resolves the route handlers' hints.
import asyncio
from typing import Any

from litestar import Litestar, get, websocket_listener
from litestar.middleware import DefineMiddleware
from litestar.testing import TestClient

from fastapi_events import _store
from fastapi_events._event import Event
from fastapi_events.contrib.litestar import EventsPlugin
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware


@get("/a")
async def route_a() -> str:
    dispatch("route.a")
    return "a"


@get("/b")
async def route_b() -> str:
    dispatch("route.b")
    return "b"


def recording_handler(seen: list[str], delay: float = 0.0) -> LocalHandler:
    handler = LocalHandler()

    @handler.register
    async def record(event: Event) -> None:
        await asyncio.sleep(delay)
        seen.append(event.key)

    return handler


def test_every_route_shares_one_pipeline() -> None:
    """Litestar builds a middleware per route; the plugin's routes share one pipeline."""
    seen: list[str] = []
    plugin = EventsPlugin(handlers=[recording_handler(seen)])
    app = Litestar(route_handlers=[route_a, route_b], plugins=[plugin])
    with TestClient(app) as client:
        assert client.get("/a").text == "a"
        assert client.get("/b").text == "b"
    assert seen == ["route.a", "route.b"]
    ours = [p for p in _store.all_pipelines() if p.middleware_id == plugin.middleware_id]
    assert len(ours) == 1


def test_shutdown_drains_background_events() -> None:
    """Events still being handled in the background finish before the app stops."""
    seen: list[str] = []
    plugin = EventsPlugin(handlers=[recording_handler(seen, delay=0.2)], middleware_id=808)
    app = Litestar(route_handlers=[route_a], plugins=[plugin])
    with TestClient(app):
        dispatch("job.done", middleware_id=808)
    assert seen == ["job.done"]


def test_plain_define_middleware_works() -> None:
    """DefineMiddleware with the plain middleware handles request events too."""
    seen: list[str] = []
    middleware = DefineMiddleware(EventHandlerASGIMiddleware, handlers=[recording_handler(seen)])
    app = Litestar(route_handlers=[route_a], middleware=[middleware])
    with TestClient(app) as client:
        client.get("/a")
    assert seen == ["route.a"]


def test_websocket_events_are_handled_while_open() -> None:
    """A Litestar websocket listener's events are handled before the socket closes."""
    seen: list[str] = []

    @websocket_listener("/ws")
    async def echo(data: str) -> str:
        dispatch("ws.message", data)
        return data

    handler = LocalHandler()

    @handler.register
    async def record(event: Event) -> None:
        seen.append(event.payload)

    app = Litestar(route_handlers=[echo], plugins=[EventsPlugin(handlers=[handler])])
    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        socket.send_text("hi")
        assert socket.receive_text() == "hi"
        # The listener's next receive flushed "hi" to the background runner, which runs
        # before the server processes the next message.
        socket.send_text("again")
        assert socket.receive_text() == "again"
        seen_while_open: Any = list(seen)
    assert seen_while_open[:1] == ["hi"]
    assert seen == ["hi", "again"]


def test_the_plugin_takes_every_argument_of_the_middleware() -> None:
    """Nothing the middleware offers is out of a Litestar app's reach: same names, defaults."""
    import inspect

    def parameters(function: Any, skip: set[str]) -> dict[str, Any]:
        found = inspect.signature(function).parameters.values()
        return {p.name: p.default for p in found if p.name not in skip}

    middleware = parameters(EventHandlerASGIMiddleware.__init__, {"self", "app"})
    assert parameters(EventsPlugin.__init__, {"self"}) == middleware


@get("/traced")
async def route_traced() -> str:
    dispatch("route.traced")
    return "ok"


def test_a_correlation_header_of_your_own_reaches_the_event() -> None:
    """``correlation_id_header=`` is passed through to every route's middleware."""
    seen: list[Any] = []
    handler = LocalHandler()

    @handler.register
    async def record(event: Event) -> None:
        seen.append(event.correlation_id)

    plugin = EventsPlugin(handlers=[handler], correlation_id_header="X-Trace-Token")
    app = Litestar(route_handlers=[route_traced], plugins=[plugin])
    with TestClient(app) as client:
        assert client.get("/traced", headers={"X-Trace-Token": "t-1"}).text == "ok"
    assert seen == ["t-1"]
