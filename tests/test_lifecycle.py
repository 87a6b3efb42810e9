"""Websockets, lifespan shutdown draining, chaining and context, with Starlette's TestClient."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from contextvars import ContextVar
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ShutdownTimeoutError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")


def app_with(handler: LocalHandler, *routes: Any, **options: Any) -> Starlette:
    return Starlette(
        routes=list(routes),
        middleware=[Middleware(EventHandlerASGIMiddleware, handlers=[handler], **options)],
    )


def test_websocket_events_are_handled_while_the_socket_is_open() -> None:
    """Each message's event is handled before the client sends the next one, in order."""
    handler = LocalHandler()
    seen: list[str] = []
    handled = threading.Semaphore(0)

    @handler.register(event_name="ws.*")
    async def on_message(event: Event) -> None:
        seen.append(event.payload)
        handled.release()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        for _ in range(3):
            text = await websocket.receive_text()
            dispatch("ws.message", text)
            await websocket.send_text("ack")
        await websocket.close()

    app = app_with(handler, WebSocketRoute("/ws", endpoint))
    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        for text in ["a", "b"]:
            socket.send_text(text)
            assert socket.receive_text() == "ack"
            assert handled.acquire(timeout=5), "event not handled while the socket was open"
        socket.send_text("c")
        assert socket.receive_text() == "ack"
    assert handled.acquire(timeout=5)
    assert seen == ["a", "b", "c"]


def test_shutdown_waits_for_background_events() -> None:
    """Lifespan shutdown waits for events still being handled in the background."""
    handler = LocalHandler()
    done: list[str] = []

    @handler.register
    async def slow(event: Event) -> None:
        await asyncio.sleep(0.2)
        done.append(event.key)

    with TestClient(app_with(handler, middleware_id=31)):
        dispatch("job.finished", None, middleware_id=31)
    assert done == ["job.finished"]


def test_shutdown_timeout_reports_unhandled_events(library_logs: list[logging.LogRecord]) -> None:
    """Past shutdown_timeout, each unhandled event is logged once (name, id) and sent to
    on_error once."""
    handler = LocalHandler()
    reported: list[tuple[str, Any, type[BaseException]]] = []

    @handler.register
    async def never_finishes(event: Event) -> None:
        await asyncio.Event().wait()

    app = app_with(
        handler,
        middleware_id=32,
        shutdown_timeout=0.1,
        on_error=lambda e, h, exc: reported.append((e.id, h, type(exc))),
    )
    with TestClient(app):
        dispatch("stuck.one", None, middleware_id=32)
        dispatch("stuck.two", None, middleware_id=32)
    assert [(h, t) for _, h, t in reported] == [(handler, ShutdownTimeoutError)] * 2
    errors = [r.getMessage() for r in library_logs if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # one summary record: the count and every id
    assert errors[0].startswith("2 event(s) not handled")
    assert "0.1s shutdown timeout" in errors[0]
    for event_id, _, _ in reported:
        assert event_id in errors[0]


def test_chaining_from_async_and_sync_handlers_keeps_request_context() -> None:
    """Handlers chain events (async and sync, in a thread) and see the request's ContextVars."""
    handler = LocalHandler()
    seen: list[tuple[str, str]] = []

    @handler.register(event_name="order.placed")
    async def placed(event: Event) -> None:
        seen.append((event.key, correlation_id.get()))
        dispatch("order.charged", None)

    @handler.register(event_name="order.charged")
    def charged(event: Event) -> None:  # sync: runs in a worker thread
        seen.append((event.key, correlation_id.get()))
        dispatch("order.shipped", None)

    @handler.register(event_name="order.shipped")
    async def shipped(event: Event) -> None:
        seen.append((event.key, correlation_id.get()))

    async def endpoint(request: Any) -> PlainTextResponse:
        dispatch("order.placed", None)
        return PlainTextResponse("ok")

    class CorrelationMiddleware:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            token = correlation_id.set("req-42")
            try:
                await self.app(scope, receive, send)
            finally:
                correlation_id.reset(token)

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[
            Middleware(CorrelationMiddleware),
            Middleware(EventHandlerASGIMiddleware, handlers=[handler]),
        ],
    )
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert seen == [
        ("order.placed", "req-42"),
        ("order.charged", "req-42"),
        ("order.shipped", "req-42"),
    ]


def test_lifespan_passes_through_to_the_app() -> None:
    """The app's own startup and shutdown handlers still run behind the middleware."""
    calls: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        calls.append("startup")
        yield
        calls.append("shutdown")

    app = Starlette(
        lifespan=lifespan,
        middleware=[Middleware(EventHandlerASGIMiddleware, handlers=[LocalHandler()])],
    )
    with TestClient(app):
        assert calls == ["startup"]
    assert calls == ["startup", "shutdown"]


def test_sync_handler_chains_with_a_test_client_used_without_lifespan() -> None:
    """Each TestClient request without `with` runs on a new loop; chaining still works."""
    handler = LocalHandler()
    seen: list[str] = []

    @handler.register(event_name="first")
    def first(event: Event) -> None:  # a worker thread: chaining goes through the loop
        dispatch("second", None)

    @handler.register(event_name="second")
    async def second(event: Event) -> None:
        seen.append(event.key)

    async def endpoint(request: Any) -> PlainTextResponse:
        dispatch("first", None)
        return PlainTextResponse("ok")

    client = TestClient(app_with(handler, Route("/", endpoint)))
    for _ in range(2):
        client.get("/")
    assert seen == ["second", "second"]


def test_startup_starts_every_handler_even_if_one_fails(
    library_logs: list[logging.LogRecord],
) -> None:
    """astart() runs at lifespan startup; a failing one is logged, the next still starts."""
    started: list[str] = []

    class Starting(LocalHandler):
        def __init__(self, name: str, fail: bool) -> None:
            super().__init__()
            self.name, self.fail = name, fail

        async def astart(self) -> None:
            if self.fail:
                raise RuntimeError("cannot connect")
            started.append(self.name)

    app = Starlette(
        middleware=[
            Middleware(
                EventHandlerASGIMiddleware,
                handlers=[Starting("broken", True), Starting("fine", False)],
            )
        ]
    )
    with TestClient(app):
        assert started == ["fine"]
    [record] = [r for r in library_logs if r.getMessage().startswith("starting handler")]
    assert record.exc_info is not None


def test_push_only_websocket_events_are_handled_while_it_stays_open() -> None:
    """A socket that only sends (never receives) gets its events handled promptly, in order."""
    handler = LocalHandler()
    seen: list[int] = []

    @handler.register(event_name="tick")
    async def on_tick(event: Event) -> None:
        seen.append(event.payload)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        for n in range(3):
            dispatch("tick", n)
        for _ in range(500):  # bounded: up to 5 s, only ever sending
            if len(seen) == 3:
                break
            await asyncio.sleep(0.01)
        await websocket.send_json(seen)
        await websocket.close()

    app = app_with(handler, WebSocketRoute("/push", endpoint))
    with TestClient(app) as client, client.websocket_connect("/push") as socket:
        assert socket.receive_json() == [0, 1, 2]
