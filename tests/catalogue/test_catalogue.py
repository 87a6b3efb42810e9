"""Serving the catalogue: routes on FastAPI and Starlette apps, off unless added."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware

from fastapi_events._event import Event
from fastapi_events.catalogue import EventCatalogue, asyncapi_document
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.catalogue.kit import schemas_registry
from tests.handlers.forwarders import MemoryForwarder

pytestmark = pytest.mark.anyio
Parser = Callable[[dict[str, Any]], Any]


async def on_order(event: Event) -> None:
    """A local function."""


def fastapi_app(catalogue: EventCatalogue | None, local: LocalHandler) -> FastAPI:
    """A FastAPI app with the middleware, and the catalogue's routes if given."""
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[local, MemoryForwarder("box")])
    if catalogue is not None:
        catalogue.add_routes(app)
    return app


def client(app: Any) -> httpx.AsyncClient:
    """An in-process client of ``app``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")


async def test_fastapi_serves_the_document_and_the_page(asyncapi_parser: Parser) -> None:
    """GET /asyncapi.json is the valid document; GET /asyncapi the page linking to it."""
    local = LocalHandler()
    local.register(on_order, event_name="order.*")
    app = fastapi_app(EventCatalogue(title="Shop", registry=schemas_registry()), local)
    async with client(app) as http:
        document = await http.get("/asyncapi.json")
        page = await http.get("/asyncapi")
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/json"
    assert document.json()["info"]["title"] == "Shop"
    assert set(document.json()["operations"]) == {"on_order", "send.memory.box"}
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert (
        page.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert "href='asyncapi.json'" in page.text
    asyncapi_parser(document.json())


async def test_routes_are_off_by_default_and_out_of_the_openapi_schema() -> None:
    """Without add_routes there is no catalogue; with it, OpenAPI does not list it."""
    bare = fastapi_app(None, LocalHandler())
    async with client(bare) as http:
        assert (await http.get("/asyncapi.json")).status_code == 404
    served = fastapi_app(EventCatalogue(), LocalHandler())
    assert served.openapi()["paths"] == {}


async def test_the_document_follows_registrations_made_after_startup() -> None:
    """Each request builds the document anew: a function registered later is listed."""
    local = LocalHandler()
    app = fastapi_app(EventCatalogue(registry=schemas_registry()), local)
    async with client(app) as http:
        before = (await http.get("/asyncapi.json")).json()
        local.register(on_order, event_name="order.*")
        after = (await http.get("/asyncapi.json")).json()
    assert "on_order" not in before["operations"]
    assert "on_order" in after["operations"]


async def test_starlette_custom_paths_head_and_other_methods() -> None:
    """Custom paths (the page links to the document relatively), HEAD, and 405."""
    middleware = [Middleware(EventHandlerASGIMiddleware, handlers=[LocalHandler()])]
    app = Starlette(middleware=middleware)
    EventCatalogue().add_routes(app, json_path="/events/asyncapi.json", html_path="/docs/events")
    async with client(app) as http:
        page = await http.get("/docs/events")
        head = await http.head("/events/asyncapi.json")
        post = await http.post("/events/asyncapi.json")
    assert "href='../events/asyncapi.json'" in page.text
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert post.status_code == 405


async def test_a_catalogue_that_cannot_find_its_middleware_answers_503() -> None:
    """An unknown middleware_id: 503 with the reason, as JSON and as text."""
    app = Starlette()
    EventCatalogue(404).add_routes(app)
    async with client(app) as http:
        document = await http.get("/asyncapi.json")
        page = await http.get("/asyncapi")
    assert document.status_code == 503
    assert "middleware_id=404" in document.json()["detail"]
    assert page.status_code == 503
    assert page.headers["content-type"] == "text/plain; charset=utf-8"


async def test_the_route_served_alone_answers_lifespan() -> None:
    """Mounted as its own ASGI app, the route completes the lifespan protocol."""
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await EventCatalogue([]).json_app()({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_asyncapi_document_is_the_catalogue_s_document() -> None:
    """asyncapi_document(source, **options) == EventCatalogue(source, **options).document()."""
    local = LocalHandler()
    local.register(on_order, event_name="order.*")
    options: dict[str, Any] = {"title": "T", "registry": schemas_registry()}
    assert asyncapi_document([local], **options) == EventCatalogue([local], **options).document()
