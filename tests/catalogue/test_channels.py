"""Each forwarder's channel: its destination, its bindings, its routing function."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from fastapi_events._event import Event
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from fastapi_events.handlers.kafka import KafkaForwardHandler
from fastapi_events.handlers.nats import NATSForwardHandler
from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler
from fastapi_events.handlers.redis import RedisStreamForwardHandler
from fastapi_events.handlers.sns import SNSForwardHandler
from tests.catalogue.kit import document_of, schemas_registry
from tests.handlers.forwarders import MemoryForwarder

Parser = Callable[[dict[str, Any]], Any]
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:orders"


def queue_for(event: Event) -> str:
    """A routing function the catalogue must name, never call."""
    raise AssertionError("the catalogue called a routing function")


CASES: list[tuple[str, Callable[[], Any], str, str | None, dict[str, Any]]] = [
    (
        "sqs",
        lambda: SQSForwardHandler(QUEUE, "eu-west-1"),
        "sqs.orders",
        QUEUE,
        {"sqs": {"queue": {"name": "orders", "fifoQueue": False}, "bindingVersion": "0.2.0"}},
    ),
    (
        "sqs-fifo",
        lambda: SQSForwardHandler(QUEUE + ".fifo", "eu-west-1", message_group_id="shop"),
        "sqs.orders.fifo",
        QUEUE + ".fifo",
        {"sqs": {"queue": {"name": "orders.fifo", "fifoQueue": True}, "bindingVersion": "0.2.0"}},
    ),
    ("sqs-routed", lambda: SQSForwardHandler(queue_for, "eu-west-1"), "sqs.routed", None, {}),
    (
        "sns",
        lambda: SNSForwardHandler(TOPIC_ARN),
        "sns.orders",
        TOPIC_ARN,
        {"sns": {"name": "orders", "ordering": {"type": "standard"}, "bindingVersion": "0.1.0"}},
    ),
    (
        "pubsub",
        lambda: GoogleCloudSimplePubSubHandler("shop-project", "orders"),
        "pubsub.orders",
        "projects/shop-project/topics/orders",
        {},
    ),
    (
        "kafka",
        lambda: KafkaForwardHandler("orders"),
        "kafka.orders",
        "orders",
        {"kafka": {"topic": "orders", "bindingVersion": "0.5.0"}},
    ),
    (
        "rabbitmq",
        lambda: RabbitMQForwardHandler(exchange="shop"),
        "rabbitmq.shop",
        "{eventName}",
        {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": "shop", "type": "topic", "durable": True},
                "bindingVersion": "0.3.0",
            }
        },
    ),
    (
        "rabbitmq-default-exchange",
        lambda: RabbitMQForwardHandler("orders", exchange=""),
        "rabbitmq.default",
        "orders",
        {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": "", "type": "default", "durable": True},
                "bindingVersion": "0.3.0",
            }
        },
    ),
    ("redis", lambda: RedisStreamForwardHandler("orders"), "redis.orders", "orders", {}),
    (
        "nats",
        lambda: NATSForwardHandler("events.orders"),
        "nats.events.orders",
        "events.orders",
        {},
    ),
    ("braces", lambda: MemoryForwarder("box-{1}"), "memory.box-_1", None, {}),
]


@pytest.mark.parametrize(
    ("factory", "channel_id", "address", "bindings"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_forwarder_channel_address_and_bindings(
    factory: Callable[[], Any], channel_id: str, address: str | None, bindings: dict[str, Any]
) -> None:
    """Each forwarder's destination is a channel with its protocol's bindings."""
    document = document_of([factory()], schemas_registry())
    channel = document["channels"][channel_id]
    assert channel["address"] == address
    assert channel.get("bindings", {}) == bindings


def test_every_kind_of_channel_is_valid_asyncapi(asyncapi_parser: Parser) -> None:
    """One document with every forwarder above: the parser accepts its bindings."""
    document = document_of([case[1]() for case in CASES], schemas_registry())
    assert list(document["channels"]) == ["dispatch", *(case[2] for case in CASES)]
    asyncapi_parser(document)


def test_routing_function_is_named_and_never_called() -> None:
    """A routed forwarder's channel has no address and names its function."""
    document = document_of([SQSForwardHandler(queue_for, "eu-west-1")], schemas_registry())
    channel = document["channels"]["sqs.routed"]
    assert channel["title"] == "SQS queue (routed)"
    assert f"function `{__name__}.queue_for`" in channel["description"]
    assert channel["x-fastapi-events-routed-by"] == f"{__name__}.queue_for"


def test_rabbitmq_routing_key_by_default_is_the_event_name_parameter() -> None:
    """The default routing key (the event name) is an address parameter, explained."""
    document = document_of([RabbitMQForwardHandler(exchange="shop")], schemas_registry())
    channel = document["channels"]["rabbitmq.shop"]
    assert channel["parameters"] == {"eventName": {"description": "The event name."}}
    assert "the routing key is the event name" in channel["description"]
    operation = document["operations"]["send.rabbitmq.shop"]
    assert operation["bindings"]["amqp"]["deliveryMode"] == 2
    assert operation["bindings"]["amqp"]["mandatory"] is True


def test_rabbitmq_routed_by_a_function_keeps_its_exchange(asyncapi_parser: Parser) -> None:
    """A routing-key function is named; the exchange binding stays."""
    forwarder = RabbitMQForwardHandler(queue_for, exchange="shop", exchange_type="direct")
    document = document_of([forwarder], schemas_registry())
    channel = document["channels"]["rabbitmq.shop"]
    assert channel["address"] is None
    assert channel["title"] == "RabbitMQ exchange shop"
    assert f"routing key from function `{__name__}.queue_for`" in channel["description"]
    assert channel["bindings"]["amqp"]["exchange"]["type"] == "direct"
    asyncapi_parser(document)


def test_sqs_fifo_names_its_message_group() -> None:
    """A FIFO queue's channel says where the message group comes from."""
    forwarder = SQSForwardHandler(QUEUE + ".fifo", "eu-west-1", message_group_id=queue_for)
    channel = document_of([forwarder])["channels"]["sqs.orders.fifo"]
    assert f"message group from function `{__name__}.queue_for`" in channel["description"]


def test_kafka_message_key_is_described(asyncapi_parser: Parser) -> None:
    """The record key is a Kafka message binding: default, constant, or a function."""
    forwarders = [
        KafkaForwardHandler("orders"),
        KafkaForwardHandler("audit", key="k"),
        KafkaForwardHandler("users", key=queue_for),
    ]
    document = document_of(forwarders, schemas_registry())
    keys = [
        document["channels"][name]["messages"]["order.placed"]["bindings"]["kafka"]["key"]
        for name in ("kafka.orders", "kafka.audit", "kafka.users")
    ]
    assert "correlation id" in keys[0]["description"]
    assert keys[1]["description"] == "A constant key."
    assert f"`{__name__}.queue_for`" in keys[2]["description"]
    asyncapi_parser(document)


def test_no_credential_or_connection_setting_reaches_the_document() -> None:
    """URLs with passwords and producer secrets stay out; nothing connects."""
    forwarders = [
        RedisStreamForwardHandler("orders", url="redis://:hunter2@127.0.0.1:1/0"),
        RabbitMQForwardHandler(exchange="shop", url="amqp://user:hunter2@127.0.0.1:1/vhost"),
        KafkaForwardHandler("orders", producer_options={"sasl_plain_password": "hunter2"}),
    ]
    text = json.dumps(document_of(forwarders, schemas_registry()))
    assert "hunter2" not in text
    assert "127.0.0.1" not in text
