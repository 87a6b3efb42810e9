"""Finding HTTP ingresses: routed or mounted in the app, given with their paths, or listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from fastapi_events._event import Event
from fastapi_events.catalogue import EventCatalogue
from fastapi_events.catalogue._ingresses import INGRESSES_TYPE
from fastapi_events.errors import ConfigurationError
from fastapi_events.ingress import EventIngress
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.catalogue.kit import local_handler_with, schemas_registry
from tests.ingress.kit import FRAMEWORKS, app_for, client, url_for, verifier

pytestmark = pytest.mark.anyio
Parser = Callable[[dict[str, Any]], Any]


async def on_order(event: Event) -> None:
    """A local function the ingress hands order events to."""


def ingress() -> EventIngress:
    """An HMAC-verified ingress handing order events to ``on_order``."""
    return EventIngress(handlers=[local_handler_with(("order.*", on_order))], verifier=verifier())


def http_channels(document: dict[str, Any]) -> dict[str, str | None]:
    """Channel id -> address of the document's ingress channels."""
    channels = document["channels"].items()
    return {key: channel["address"] for key, channel in channels if key.startswith("http.")}


def catalogue_of(source: Any = None, **options: Any) -> EventCatalogue:
    """A catalogue with the test registry."""
    return EventCatalogue(source, registry=schemas_registry(), **options)


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_the_address_found_in_the_app_is_where_the_ingress_answers(framework: str) -> None:
    """A route gives its path, a mount its path and a slash: a POST there reaches the
    ingress (401 unsigned), not a redirect or a 404."""
    app = app_for(ingress(), framework)
    addresses = list(http_channels(catalogue_of(app).document()).values())
    assert addresses == [url_for(framework)]
    async with client(app) as http:
        answer = await http.post(addresses[0], content=b"{}")
    assert answer.status_code == 401


def test_nested_mounts_and_mounts_with_middleware_are_followed() -> None:
    """The path joins every enclosing mount; a mount's own middleware is looked through."""
    routed, mounted = ingress(), ingress()
    noop = Middleware(EventHandlerASGIMiddleware, handlers=[])
    app = Starlette(
        routes=[
            Mount("/api", routes=[Mount("/v1", routes=[Route("/events", routed)])]),
            Mount("/pubsub", app=mounted, middleware=[noop]),
        ]
    )
    document = catalogue_of(app).document()
    assert http_channels(document) == {
        "http.api_v1_events": "/api/v1/events",
        "http.pubsub": "/pubsub/",
    }


def test_an_app_wrapped_in_asgi_middleware_is_searched() -> None:
    """EventHandlerASGIMiddleware(app): the routes of the app it wraps."""
    inner = FastAPI()
    inner.add_route("/events", ingress(), methods=["POST"])
    wrapped = EventHandlerASGIMiddleware(inner, handlers=[local_handler_with()])
    assert http_channels(catalogue_of(wrapped).document()) == {"http.events": "/events"}


def test_an_app_with_an_ingress_and_no_middleware_is_described() -> None:
    """Events that only arrive over HTTP: no middleware needed; an app with neither is an error."""
    app = FastAPI()
    app.add_route("/events", ingress(), methods=["POST"])
    document = catalogue_of(app).document()
    assert http_channels(document) == {"http.events": "/events"}
    assert document["operations"]["on_order"]["channel"] == {"$ref": "#/channels/http.events"}
    with pytest.raises(ConfigurationError, match="found no EventHandlerASGIMiddleware"):
        catalogue_of(FastAPI()).document()


async def test_the_served_document_lists_the_ingresses_of_the_serving_app() -> None:
    """EventCatalogue() added to an app: its ingress is in the document and on the page."""
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[local_handler_with()])
    app.mount("/events", ingress())
    catalogue_of().add_routes(app)
    async with client(app) as http:
        document = (await http.get("/asyncapi.json")).json()
        page = (await http.get("/asyncapi")).text
    assert http_channels(document) == {"http.events": "/events/"}
    assert "HTTP ingress /events/" in page
    assert "Requests are verified by their HMAC-SHA256 signature" in page


def test_a_given_path_wins_and_a_listed_ingress_takes_the_path_found() -> None:
    """ingresses={path: ingress} is kept as given; ingresses=[ingress] is looked up."""
    given, listed = ingress(), ingress()
    app = FastAPI()
    app.add_route("/in-app", given, methods=["POST"])
    app.add_route("/listed", listed, methods=["POST"])
    catalogue = catalogue_of(app, ingresses={"/behind-proxy/events": given})
    assert list(http_channels(catalogue.document()).values()) == [
        "/behind-proxy/events",
        "/listed",
    ]
    listed_only = catalogue_of(app, ingresses=[listed]).document()
    assert list(http_channels(listed_only).values()) == ["/listed", "/in-app"]


def test_an_ingress_passed_as_a_consumer_is_listed_as_an_ingress() -> None:
    """consumers=[ingress] is an HTTP channel, not a custom consumer's."""
    document = catalogue_of([], consumers=[ingress()]).document()
    assert http_channels(document) == {"http.ingress": None}
    assert document["channels"]["http.ingress"]["title"] == "HTTP ingress (path unknown)"


def test_a_middleware_or_handlers_source_names_no_routes() -> None:
    """Given the handlers themselves, the serving app's routes are not searched."""
    app = FastAPI()
    app.add_route("/events", ingress(), methods=["POST"])
    assert http_channels(catalogue_of([local_handler_with()]).document(app)) == {}
    assert http_channels(catalogue_of().document(app)) == {"http.events": "/events"}


def test_an_ingress_given_with_a_path_and_as_a_consumer_is_one_channel() -> None:
    """The path given says where it is: no second channel without an address."""
    both = ingress()
    catalogue = catalogue_of([], ingresses={"/events": both}, consumers=[both])
    assert http_channels(catalogue.document()) == {"http.events": "/events"}


def test_one_ingress_at_two_paths_is_two_channels() -> None:
    """Each path it answers at is a channel."""
    twice = ingress()
    app = FastAPI()
    app.add_route("/a", twice, methods=["POST"])
    app.add_route("/b", twice, methods=["POST"])
    assert http_channels(catalogue_of(app).document()) == {"http.a": "/a", "http.b": "/b"}


@pytest.mark.parametrize(
    ("make", "found"),
    [
        (lambda: {"/events": object()}, "got a object at a str key"),
        (lambda: "/events", "got a str"),
        (lambda: 5, "got a int"),
        (lambda: {1: ingress()}, "got a EventIngress at a int key"),
        (lambda: [object()], "got a object at a NoneType key"),
    ],
    ids=["not-an-ingress", "a-string", "a-number", "a-number-key", "a-list-of-other"],
)
def test_ingresses_of_another_shape_are_refused(make: Callable[[], Any], found: str) -> None:
    """The error says what is expected and what it got, at construction."""
    with pytest.raises(ConfigurationError) as caught:
        EventCatalogue(ingresses=make())
    message = str(caught.value)
    assert message.startswith("ingresses must map the path each ingress is served at")
    assert message.endswith(found)
    assert message == INGRESSES_TYPE.format(found=found.removeprefix("got "))
