"""The HTML page: tables rendered on the server, escaped, with nothing fetched."""

from __future__ import annotations

import re

from pydantic import BaseModel

from fastapi_events._event import Event
from fastapi_events.catalogue import render_html
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.registry.payload_schema import EventPayloadSchemaRegistry
from fastapi_events.serialization import CloudEventsFormat
from tests.catalogue.kit import document_of, local_handler_with, schemas_registry

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"


async def on_order(event: Event) -> None:
    """A local function."""


def page() -> str:
    """The page of an app with a local function and an SQS forwarder."""
    handlers = [
        local_handler_with(("order.*", on_order)),
        SQSForwardHandler(QUEUE, "eu-west-1", serializer=CloudEventsFormat("/shop")),
    ]
    return render_html(document_of(handlers, schemas_registry(), title="Shop"), json_url="a.json")


def test_the_page_has_a_table_per_part_of_the_document() -> None:
    """Channels, operations, messages (per channel too) and payload schemas."""
    html = page()
    for heading in ("Channels", "Operations", "Messages", "Payload schemas"):
        assert f"<h2>{heading}</h2>" in html
    assert "<h3>On <a href='#channel-sqs.orders'>sqs.orders</a>: SQS queue orders</h3>" in html
    assert "<code>order.placed</code>" in html  # CommonMark code spans rendered
    assert "<td><code>order_id</code></td>" in html  # a schema's field
    assert "<a href='a.json'>a.json</a>" in html


def test_every_link_points_to_an_anchor_of_the_page() -> None:
    """Links to schemas and channels all land somewhere."""
    html = page()
    targets = set(re.findall(r"href='#([^']+)'", html))
    anchors = set(re.findall(r"id='([^']+)'", html))
    assert targets
    assert targets <= anchors


def test_nothing_is_fetched_from_the_network() -> None:
    """No script, stylesheet, image, font or frame: only an inline style."""
    html = page().lower()
    for needle in ("<script", "<link", "<img", "<iframe", "src=", "@import", "url("):
        assert needle not in html


def test_every_text_is_escaped() -> None:
    """Event names and model docs cannot inject markup."""

    class Evil(BaseModel):
        """<img src=x onerror=alert(1)>"""

        field: int

    registry = EventPayloadSchemaRegistry()
    registry.register(Evil, event_name="<script>alert(1)</script>")
    html = render_html(document_of([], registry, title="<b>t</b>"))
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h1>&lt;b&gt;t&lt;/b&gt;" in html
