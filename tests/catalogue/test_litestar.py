"""Serving the catalogue from a Litestar app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from fastapi_events._event import Event
from fastapi_events.catalogue import EventCatalogue
from fastapi_events.catalogue.litestar import catalogue_handlers
from fastapi_events.contrib.litestar import EventsPlugin
from tests.catalogue.kit import local_handler_with, schemas_registry
from tests.handlers.forwarders import MemoryForwarder

Parser = Callable[[dict[str, Any]], Any]


async def on_order(event: Event) -> None:
    """A local function."""


def test_litestar_serves_the_document_and_the_page(asyncapi_parser: Parser) -> None:
    """The route handlers find the app's middleware (EventsPlugin) and answer GET only."""
    handlers = [local_handler_with(("order.*", on_order)), MemoryForwarder("box")]
    catalogue = EventCatalogue(title="Shop", registry=schemas_registry())
    app = Litestar(
        route_handlers=catalogue_handlers(catalogue, html_path="/docs/events"),
        plugins=[EventsPlugin(handlers=handlers)],
    )
    with TestClient(app) as http:
        document = http.get("/asyncapi.json")
        page = http.get("/docs/events")
        refused = http.post("/asyncapi.json")
    assert document.status_code == 200
    assert set(document.json()["operations"]) == {"on_order", "send.memory.box"}
    assert page.status_code == 200
    assert "href='../asyncapi.json'" in page.text
    assert refused.status_code == 405
    asyncapi_parser(document.json())


def test_litestar_without_a_page() -> None:
    """html_path=None: only the document is served."""
    routes = catalogue_handlers(EventCatalogue([]), html_path=None)
    assert [sorted(route.paths) for route in routes] == [["/asyncapi.json"]]
