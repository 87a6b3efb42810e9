"""Counting outcomes by event id, and driving the middleware without a server."""

from __future__ import annotations

from typing import Any

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.typing import Message


class Ledger:
    """Handled and reported event ids, with the check every test ends with."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.reported: list[tuple[str, Any, type[BaseException]]] = []

    def on_error(self, event: Event, handler: Any, exc: BaseException) -> None:
        self.reported.append((event.id, handler, type(exc)))

    def reported_ids(self) -> list[str]:
        return [event_id for event_id, _, _ in self.reported]

    def assert_exact(self, dispatched: int) -> None:
        handled, reported = set(self.handled), set(self.reported_ids())
        assert len(handled) == len(self.handled), "an event was handled twice"
        assert len(reported) == len(self.reported), "an event was reported twice"
        assert not handled & reported, "an event was handled and reported"
        assert len(handled) + len(reported) == dispatched


def dispatching_app(count: int) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for i in range(count):
            dispatch("order.placed", {"n": i})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def call(middleware: EventHandlerASGIMiddleware) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    await middleware({"type": "http", "method": "GET", "path": "/"}, receive, send)
