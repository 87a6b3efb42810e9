"""The document's shape: one message per event, local functions, forwarders, consumers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from fastapi_events._event import Event
from fastapi_events.catalogue import ASYNCAPI_VERSION
from fastapi_events.handlers.echo import EchoHandler
from fastapi_events.handlers.null import NullHandler
from fastapi_events.registry.payload_schema import EventPayloadSchemaRegistry
from tests.catalogue.kit import (
    OrderPlaced,
    document_of,
    local_handler_with,
    operation_message_names,
    schemas_registry,
)
from tests.handlers.forwarders import MemoryForwarder

Parser = Callable[[dict[str, Any]], Any]


async def on_order(event: Event) -> None:
    """A local function for order events."""


def on_anything(event: Event) -> None:
    """A sync local function for every event."""


def test_one_message_per_registered_name_and_handler_pattern(asyncapi_parser: Parser) -> None:
    """Registry names and local patterns each get one message, with the model's schema."""
    local = local_handler_with(("order.*", on_order), ("order.placed", on_order))
    document = document_of([local], schemas_registry())
    messages = document["components"]["messages"]
    assert [m["name"] for m in messages.values()] == ["order.placed", "user.created", "order.*"]
    assert messages["order.placed"]["payload"] == {"$ref": "#/components/schemas/OrderPlaced"}
    assert messages["user.created"]["payload"] == {"$ref": "#/components/schemas/UserCreated"}
    assert "$ref" not in messages["order.any"]["payload"]
    assert document["asyncapi"] == ASYNCAPI_VERSION == "3.0.0"
    asyncapi_parser(document)


def test_event_name_models_are_listed_registered_or_given(asyncapi_parser: Parser) -> None:
    """A model registered bare by __event_name__, and one passed in models=, are listed."""

    class Refunded(BaseModel):
        __event_name__ = "order.refunded"
        amount: int

    document = document_of([], schemas_registry(), models=[Refunded])
    messages = document["components"]["messages"]
    assert messages["user.created"]["name"] == "user.created"  # an Enum __event_name__
    assert messages["order.refunded"]["payload"] == {"$ref": "#/components/schemas/Refunded"}
    assert set(document["components"]["schemas"]) >= {"Refunded", "UserCreated", "Address"}
    asyncapi_parser(document)


def test_a_registered_schema_wins_over_a_model_with_the_same_name() -> None:
    """dispatch() validates with the registry, so the document shows its model."""

    class Other(BaseModel):
        __event_name__ = "order.placed"

    document = document_of([], schemas_registry(), models=[Other])
    payload = document["components"]["messages"]["order.placed"]["payload"]
    assert payload == {"$ref": "#/components/schemas/OrderPlaced"}


def test_local_functions_receive_the_messages_their_pattern_matches(
    asyncapi_parser: Parser,
) -> None:
    """Each registration is a receive operation on dispatch with the events it matches."""
    local = local_handler_with(("order.*", on_order), ("*", on_anything))
    document = document_of([local], schemas_registry())
    operations = document["operations"]
    assert operations["on_order"]["action"] == "receive"
    assert operations["on_order"]["channel"] == {"$ref": "#/channels/dispatch"}
    assert operations["on_order"]["x-fastapi-events-pattern"] == "order.*"
    assert operation_message_names(document, "on_order") == ["order.placed", "order.*"]
    assert operation_message_names(document, "on_anything") == [
        "order.placed",
        "user.created",
        "order.*",
        "*",
    ]
    assert operations["on_anything"]["title"] == f"{__name__}.on_anything"
    asyncapi_parser(document)


def test_one_function_registered_twice_is_two_operations() -> None:
    """Operation ids stay unique when a function is registered for two patterns."""
    local = local_handler_with(("order.placed", on_order), ("user.created", on_order))
    operations = document_of([local], schemas_registry())["operations"]
    assert list(operations) == ["on_order", "on_order_2"]


def test_forwarder_sends_every_event_on_its_own_channel(asyncapi_parser: Parser) -> None:
    """A forwarder is a channel at its destination and a send operation of every event."""
    document = document_of([MemoryForwarder("box")], schemas_registry())
    channel = document["channels"]["memory.box"]
    assert channel["address"] == "box"
    assert list(channel["messages"]) == ["order.placed", "user.created"]
    operation = document["operations"]["send.memory.box"]
    assert operation["action"] == "send"
    assert operation_message_names(document, "send.memory.box") == ["order.placed", "user.created"]
    asyncapi_parser(document)


def test_without_any_known_event_forwarders_still_list_channels(asyncapi_parser: Parser) -> None:
    """An app with no schema and no local function: channels and operations, no messages."""
    document = document_of([MemoryForwarder("box")])
    assert document["channels"]["memory.box"]["messages"] == {}
    assert document["operations"]["send.memory.box"]["messages"] == []
    asyncapi_parser(document)


def test_other_handler_objects_receive_everything_and_null_handler_is_left_out() -> None:
    """EchoHandler is a receive operation of every event; NullHandler drops events: absent."""
    document = document_of([EchoHandler(), NullHandler()], schemas_registry())
    assert list(document["operations"]) == ["EchoHandler"]
    assert operation_message_names(document, "EchoHandler") == ["order.placed", "user.created"]


class SQSConsumer:
    """Shaped like a consumer of fastapi_events.consumers (duck-typed)."""

    def __init__(self, queue_url: str, handlers: list[Any]) -> None:
        self.queue_url = queue_url
        self.handlers = handlers


class TopicReader:
    """A consumer of no known kind, reading two topics, without handlers."""

    messaging_system = "kafka"
    topics = ("orders", "users")


def test_consumers_are_channels_with_their_handlers_operations(asyncapi_parser: Parser) -> None:
    """A consumer's source is a channel; its local functions receive on it."""
    url = "https://sqs.eu-west-1.amazonaws.com/1/orders-in"
    consumer = SQSConsumer(url, [local_handler_with(("order.*", on_order))])
    document = document_of([], schemas_registry(), consumers=[consumer, TopicReader()])
    channel = document["channels"]["sqs.orders-in"]
    assert channel["address"] == url
    assert "SQSConsumer" in channel["description"]
    assert document["operations"]["on_order"]["channel"] == {"$ref": "#/channels/sqs.orders-in"}
    assert operation_message_names(document, "on_order") == ["order.placed", "order.*"]
    reader = document["channels"]["kafka.TopicReader"]
    assert reader["address"] is None
    assert "`orders`, `users`" in reader["description"]
    assert document["operations"]["TopicReader"]["action"] == "receive"
    asyncapi_parser(document)


def test_info_description_and_servers(asyncapi_parser: Parser) -> None:
    """Title, version, description and servers are the caller's."""
    servers = {"production": {"host": "sqs.eu-west-1.amazonaws.com", "protocol": "sqs"}}
    document = document_of(
        [], title="Shop", version="2.1.0", description="Shop events.", servers=servers
    )
    assert document["info"] == {"title": "Shop", "version": "2.1.0", "description": "Shop events."}
    assert document["servers"] == servers
    asyncapi_parser(document)


def test_the_default_registry_is_the_one_dispatch_uses() -> None:
    """Without registry=, the schemas registered with the default registry are listed."""
    from fastapi_events.catalogue import asyncapi_document
    from fastapi_events.registry.payload_schema import registry

    registry.register(OrderPlaced, event_name="order.placed")
    document = asyncapi_document([])
    assert list(document["components"]["messages"]) == ["order.placed"]
    assert list(document_of([], EventPayloadSchemaRegistry())["components"]["messages"]) == []
