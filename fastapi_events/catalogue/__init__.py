"""An AsyncAPI 3.0 document of your events, like FastAPI's OpenAPI document of your endpoints.

:class:`EventCatalogue` describes what a middleware's handlers do with each event: one
message per event name (with its payload's JSON Schema from the payload schema registry)
and per local handler pattern; the local functions that handle it (``receive``
operations); the forwarders that send it, with their destinations (SQS queues, SNS and
Pub/Sub and Kafka topics, RabbitMQ exchanges and routing keys, Redis streams, NATS
subjects; routing functions named) and the message format on the wire (0.12's JSON array or
CloudEvents, structured or binary, with the headers it carries); consumers, when given; and
HTTP ingresses (:class:`~fastapi_events.ingress.EventIngress`) at the paths they answer at.

Serve it (off by default, like every route the library offers)::

    catalogue = EventCatalogue(title="Shop events", version="1.4.0")
    catalogue.add_routes(app)  # FastAPI/Starlette: GET /asyncapi.json and GET /asyncapi

or write it to a file: ``python -m fastapi_events.catalogue module:app --output asyncapi.json``.

.. versionadded:: 1.0
"""

from __future__ import annotations

from ._catalogue import CatalogueApp, EventCatalogue, asyncapi_document
from ._document import ASYNCAPI_VERSION
from ._html import render_html

__all__ = [
    "ASYNCAPI_VERSION",
    "CatalogueApp",
    "EventCatalogue",
    "asyncapi_document",
    "render_html",
]
