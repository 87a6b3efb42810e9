"""Apps for the test kit's framework matrix: the suite's three apps plus plain Litestar middleware.

Every app dispatches ``item.0`` … ``item.K-1`` on ``GET /events?n=K``; :func:`chaining_handler`
answers ``item.0`` by dispatching ``item.chained``, which is handled in the background, and
:class:`SlowRecorder` records that one only after a sleep, so a test that does not wait
for background work misses the chained event.
"""

# No `from __future__ import annotations`: Litestar resolves the endpoint's hints.
import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi_events import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.testing import RecordingHandler
from tests.apps import build_app

APPS = ("fastapi", "starlette", "litestar", "litestar-plain")


def chaining_handler() -> LocalHandler:
    """A handler that dispatches ``item.chained`` from the handling of ``item.0``."""
    handler = LocalHandler()

    @handler.register(event_name="item.0")
    async def chain(event: Event) -> None:
        dispatch("item.chained", {"from": event.payload["i"]})

    return handler


class SlowRecorder(RecordingHandler):
    """A :class:`RecordingHandler` that takes a while over ``item.chained``."""

    async def handle_many(self, events: Sequence[Event]) -> None:
        if any(event.key == "item.chained" for event in events):
            await asyncio.sleep(0.1)
        await super().handle_many(events)


def litestar_plain_app(handlers: list[Any]) -> Any:
    """Litestar with ``DefineMiddleware(EventHandlerASGIMiddleware, ...)`` and no plugin."""
    from litestar import Litestar, Request, get
    from litestar.middleware import DefineMiddleware

    @get("/events")
    async def events(request: Request[Any, Any, Any]) -> dict[str, int]:
        n = int(request.query_params.get("n", "1"))
        for i in range(n):
            dispatch(f"item.{i}", {"i": i})
        return {"dispatched": n}

    return Litestar(
        route_handlers=[events],
        middleware=[DefineMiddleware(EventHandlerASGIMiddleware, handlers=handlers)],
    )


def make_app(kind: str, handlers: list[Any]) -> Any:
    """Build the ``kind`` app (one of :data:`APPS`) with ``handlers``."""
    if kind == "litestar-plain":
        return litestar_plain_app(handlers)
    return build_app(kind, handlers)


@contextmanager
def sync_client(kind: str, app: Any) -> Iterator[Any]:
    """The framework's own sync TestClient, entered (lifespan running)."""
    if kind.startswith("litestar"):
        from litestar.testing import TestClient as LitestarClient

        with LitestarClient(app) as client:
            yield client
    else:
        from starlette.testclient import TestClient

        with TestClient(app) as client:
            yield client
