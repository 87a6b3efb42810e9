"""An app for the command's tests: its own registry and local handler (no global state)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from fastapi_events._event import Event
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.registry.payload_schema import EventPayloadSchemaRegistry
from tests.catalogue.kit import OrderPlaced
from tests.handlers.forwarders import MemoryForwarder

__all__ = ["app", "create_app", "handlers", "registry"]

registry = EventPayloadSchemaRegistry()
registry.register(OrderPlaced, event_name="order.placed")
local = LocalHandler()


@local.register(event_name="order.*")
async def on_order(event: Event) -> None:
    """A local function."""


handlers = [local, MemoryForwarder("box")]


def create_app() -> Starlette:
    """A factory of the app."""
    return Starlette(middleware=[Middleware(EventHandlerASGIMiddleware, handlers=handlers)])


app = create_app()
