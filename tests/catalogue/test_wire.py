"""Messages as they go on the wire: the body format and the headers each forwarder sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fastapi_events._event import Event
from fastapi_events._received import stream_fields
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.forwarder import Forwarder
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from fastapi_events.handlers.kafka import KafkaForwardHandler
from fastapi_events.handlers.nats import NATSForwardHandler
from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler
from fastapi_events.handlers.redis import RedisStreamForwardHandler
from fastapi_events.handlers.sns import SNSForwardHandler
from fastapi_events.serialization import CloudEventsFormat, EncodedMessage, MessageFormat
from tests.catalogue.kit import document_of, schemas_registry
from tests.handlers.forwarders import MemoryForwarder

Parser = Callable[[dict[str, Any]], Any]
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
FORMATS = {
    "json-array": None,
    "structured": CloudEventsFormat("/shop"),
    "binary": CloudEventsFormat("/shop", mode="binary"),
}
#: Each forwarder, and the names of the headers it really sends for one message.
WIRES: dict[str, tuple[Callable[[Any], Forwarder], Callable[[Any, Any], list[str]]]] = {
    "sqs": (
        lambda fmt: SQSForwardHandler(QUEUE, "eu-west-1", serializer=fmt),
        lambda forwarder, message: list(message.attributes),
    ),
    "sns": (
        lambda fmt: SNSForwardHandler("arn:aws:sns:eu-west-1:1:orders", serializer=fmt),
        lambda forwarder, message: list(message.attributes),
    ),
    "pubsub": (
        lambda fmt: GoogleCloudSimplePubSubHandler("p", "orders", serializer=fmt),
        lambda forwarder, message: list(message.attributes),
    ),
    "kafka": (
        lambda fmt: KafkaForwardHandler("orders", serializer=fmt),
        lambda forwarder, message: [name for name, _ in forwarder.record_headers(message)],
    ),
    "redis": (
        lambda fmt: RedisStreamForwardHandler("orders", serializer=fmt),
        lambda forwarder, message: [
            name for name in stream_fields(message.body, message.attributes) if name != "body"
        ],
    ),
    "rabbitmq": (
        lambda fmt: RabbitMQForwardHandler("orders", exchange="shop", serializer=fmt),
        lambda forwarder, message: list(forwarder._message(message).headers),
    ),
    "nats": (
        lambda fmt: NATSForwardHandler("events.orders", serializer=fmt),
        lambda forwarder, message: list(message.attributes),
    ),
}


def sample_event() -> Event:
    """An event with every optional attribute: a correlation id and trace context."""
    trace = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "tracestate": "a=b"}
    payload = {"order_id": 1, "lines": ["tea", 2]}
    return Event("order.placed", payload, trace_context=trace, correlation_id="req-1")


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("wire", list(WIRES))
def test_headers_are_those_the_forwarder_sends(wire: str, fmt: str) -> None:
    """The document's header names are exactly what the forwarder puts on the wire."""
    build, sent_headers = WIRES[wire]
    forwarder = build(FORMATS[fmt])
    sent = sent_headers(forwarder, forwarder.encode(sample_event()))
    document = document_of([forwarder], schemas_registry())
    (channel,) = (c for name, c in document["channels"].items() if name != "dispatch")
    headers = channel["messages"]["order.placed"]["headers"]
    assert sorted(headers["properties"]) == sorted(sent)
    optional = {"correlation_id", "traceparent", "tracestate"}
    assert all(not name.endswith(("correlationid", *optional)) for name in headers["required"])


def test_every_wire_in_every_format_is_valid_asyncapi(asyncapi_parser: Parser) -> None:
    """One document with each forwarder in each format: the parser accepts it."""
    forwarders = [build(fmt) for build, _ in WIRES.values() for fmt in FORMATS.values()]
    document = document_of(forwarders, schemas_registry())
    assert len(document["operations"]) == len(WIRES) * len(FORMATS)
    asyncapi_parser(document)


def test_json_array_body_is_the_name_then_the_payload() -> None:
    """0.12's body: a two-item array, the name constant and the payload's schema."""
    document = document_of([MemoryForwarder("box")], schemas_registry())
    message = document["channels"]["memory.box"]["messages"]["order.placed"]
    assert message["contentType"] == "application/json"
    assert message["payload"]["items"] == [
        {"const": "order.placed", "description": "The event name."},
        {"$ref": "#/components/schemas/OrderPlaced"},
    ]
    assert message["headers"]["properties"]["event_name"]["const"] == "order.placed"


def test_structured_cloudevents_body_is_the_envelope() -> None:
    """Structured mode: the envelope with the source and type constant, the payload as data."""
    forwarder = MemoryForwarder("box", serializer=CloudEventsFormat("/shop"))
    message = document_of([forwarder], schemas_registry())["channels"]["memory.box"]["messages"]
    envelope = message["order.placed"]
    assert envelope["contentType"] == "application/cloudevents+json"
    properties = envelope["payload"]["properties"]
    assert properties["source"] == {"const": "/shop"}
    assert properties["type"]["const"] == "order.placed"
    assert properties["data"] == {"$ref": "#/components/schemas/OrderPlaced"}


def test_binary_cloudevents_body_is_the_payload_with_ce_headers() -> None:
    """Binary mode: the body is the payload; ce-type and ce-source are constant headers."""
    forwarder = MemoryForwarder("box", serializer=CloudEventsFormat("/shop", mode="binary"))
    messages = document_of([forwarder], schemas_registry())["channels"]["memory.box"]["messages"]
    message = messages["order.placed"]
    assert message["payload"] == {"$ref": "#/components/schemas/OrderPlaced"}
    headers = message["headers"]["properties"]
    assert headers["ce-type"]["const"] == "order.placed"
    assert headers["ce-source"]["const"] == "/shop"
    assert headers["ce-time"]["format"] == "date-time"


class Upper(MessageFormat):
    """A user's own format: never called by the catalogue."""

    content_type = "text/plain"

    def encode(self, event: Event) -> EncodedMessage:
        raise AssertionError("the catalogue encoded with a user's format")


def plain_serializer(pair: Any) -> str:
    """0.12's serializer function: never called by the catalogue."""
    raise AssertionError("the catalogue called a user's serializer")


def test_custom_formats_are_named_not_called(asyncapi_parser: Parser) -> None:
    """A user's format or serializer function is described by name, its body as any."""
    forwarders = [
        MemoryForwarder("a", serializer=Upper()),
        MemoryForwarder("b", serializer=plain_serializer),
    ]
    document = document_of(forwarders, schemas_registry())
    own = document["channels"]["memory.a"]["messages"]["order.placed"]
    assert own["contentType"] == "text/plain"
    assert f"{__name__}.Upper" in own["payload"]["description"]
    assert "headers" not in own
    function = document["channels"]["memory.b"]["messages"]["order.placed"]
    assert f"{__name__}.plain_serializer" in function["payload"]["description"]
    assert "event_id" in function["headers"]["properties"]
    asyncapi_parser(document)


def extra_attributes(event: Event) -> dict[str, str]:
    """Attributes per event."""
    return {"tenant": "t"}


def test_extra_attributes_constant_are_listed_and_functions_named() -> None:
    """attributes= / headers= of a forwarder: names listed, values never; functions named."""
    forwarders = [
        SQSForwardHandler(QUEUE, "eu-west-1", attributes={"team": "secret-value"}),
        KafkaForwardHandler("orders", headers=extra_attributes),
    ]
    document = document_of(forwarders, schemas_registry())
    sqs = document["channels"]["sqs.orders"]["messages"]["order.placed"]["headers"]
    assert "team" in sqs["properties"]
    assert "secret-value" not in str(document)
    kafka = document["channels"]["kafka.orders"]["messages"]["order.placed"]["headers"]
    assert f"{__name__}.extra_attributes" in kafka["description"]


def test_pattern_messages_leave_the_name_open() -> None:
    """A pattern's message says which names it matches, with no constant name."""
    from tests.catalogue.kit import local_handler_with

    async def on_user(event: Event) -> None: ...

    handlers = [local_handler_with(("user.*", on_user)), MemoryForwarder("box")]
    messages = document_of(handlers)["channels"]["memory.box"]["messages"]
    name = messages["user.any"]["payload"]["items"][0]
    assert name == {"type": "string", "description": "An event name matching 'user.*'."}
    assert "const" not in messages["user.any"]["headers"]["properties"]["event_name"]
