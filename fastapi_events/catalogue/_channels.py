"""Where a forwarder sends, or a consumer reads: an AsyncAPI channel with its bindings.

Forwarders are read by their ``messaging_system`` and public attributes (``queue_url``,
``topic``, ``exchange``...), so a forwarder of another branch or a user's own works too: an
unknown one is a channel named by its ``destination``. Nothing here connects, calls a
routing function or reads a credential.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._redact import capped_text
from ._events import qualified_name

__all__ = ["Destination", "channel_prefix", "consumer_destination", "forwarder_destination"]

#: ``messaging_system`` -> (what its destinations are called, a short name for ids).
_KINDS = {
    "aws_sqs": ("SQS queue", "sqs"),
    "aws.sns": ("SNS topic", "sns"),
    "gcp_pubsub": ("Pub/Sub topic", "pubsub"),
    "kafka": ("Kafka topic", "kafka"),
    "rabbitmq": ("RabbitMQ exchange", "rabbitmq"),
    "redis": ("Redis stream", "redis"),
    "nats": ("NATS subject", "nats"),
}
_AMQP_EXCHANGE_TYPES = ("topic", "direct", "fanout", "headers")
_EVENT_NAME_PARAMETER = "eventName"


@dataclass(slots=True)
class Destination:
    """A channel: where messages go (or come from), as the document shows it.

    Attributes:
        system: the ``messaging_system`` (``aws_sqs``, ``kafka``...; ``custom``).
        kind: what the address is (``SQS queue``).
        address: the queue URL, topic, subject... (``None``: routed per event).
        name: a short name for the channel's id.
        routed_by: ``module.qualname`` of the routing function, if any.
        bindings: AsyncAPI channel bindings.
        operation_bindings: AsyncAPI operation bindings.
        message_bindings: AsyncAPI message bindings.
        parameters: AsyncAPI channel parameters (for an address with ``{eventName}``).
        notes: sentences for the channel's description.
        where: the description's first sentence, when the address alone does not say it.
        label: what the title shows after the kind, instead of ``name``.
        extensions: ``x-`` fields of the channel.
    """

    system: str
    kind: str
    address: str | None
    name: str
    routed_by: str | None = None
    bindings: dict[str, Any] = field(default_factory=dict)
    operation_bindings: dict[str, Any] = field(default_factory=dict)
    message_bindings: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    where: str | None = None
    label: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """``SQS queue orders``, ``Redis stream (routed)``, ``HTTP ingress /events``."""
        routed = self.routed_by is not None and self.where is None
        return f"{self.kind} {'(routed)' if routed else self.label or self.name}"

    def description(self) -> str:
        """Where this channel is, in words."""
        where = self.where or (
            f"Routed per event by function `{self.routed_by}`."
            if self.routed_by is not None
            else f"{self.kind} `{capped_text(self.address or self.name, 300)}`."
        )
        return " ".join([where, *self.notes])


def forwarder_destination(forwarder: Any) -> Destination:
    """The channel a forwarder sends to (its constant destination, or its router)."""
    system = str(getattr(forwarder, "messaging_system", "custom"))
    kind = _KINDS.get(system, (f"{type(forwarder).__name__} destination", system))[0]
    target = getattr(forwarder, "destination", None)
    if callable(target):
        found = Destination(system, kind, None, "routed", routed_by=qualified_name(target))
    else:
        address = None if target is None else str(target)
        found = Destination(system, kind, _address(address), _short_name(system, address))
        if address is not None and found.address is None:
            found.notes.append("(Its name holds braces, not allowed in an AsyncAPI address.)")
    _DETAILS.get(system, _no_details)(forwarder, found)
    return found


def channel_prefix(system: str) -> str:
    """The first part of the ids of a system's channels (``sqs``, ``kafka``)."""
    return _KINDS.get(system, ("", system))[1]


def _address(address: str | None) -> str | None:
    if address is None or "{" in address or "}" in address:
        return None
    return address


def _short_name(system: str, address: str | None) -> str:
    if not address:
        return system
    if system in ("aws_sqs", "gcp_pubsub"):
        return address.rstrip("/").rsplit("/", 1)[-1]
    if system == "aws.sns":
        return address.rsplit(":", 1)[-1]
    return address


def _no_details(forwarder: Any, found: Destination) -> None:
    pass


def _sqs(forwarder: Any, found: Destination) -> None:
    fifo = bool(getattr(forwarder, "is_fifo", False))
    if found.address is not None:
        queue = {"name": found.name, "fifoQueue": fifo}
        found.bindings["sqs"] = {"queue": queue, "bindingVersion": "0.2.0"}
    if fifo:
        found.notes.append(_fifo_note(forwarder))


def _sns(forwarder: Any, found: Destination) -> None:
    fifo = bool(getattr(forwarder, "is_fifo", False))
    if found.address is not None:
        ordering = {"type": "FIFO" if fifo else "standard"}
        found.bindings["sns"] = {
            "name": found.name,
            "ordering": ordering,
            "bindingVersion": "0.1.0",
        }
    if fifo:
        found.notes.append(_fifo_note(forwarder))


def _fifo_note(forwarder: Any) -> str:
    group = getattr(forwarder, "message_group_id", None)
    how = f"function `{qualified_name(group)}`" if callable(group) else "a constant"
    return f"FIFO: message group from {how}; the deduplication id is the event id."


def _kafka(forwarder: Any, found: Destination) -> None:
    if found.address is not None:
        found.bindings["kafka"] = {"topic": found.address, "bindingVersion": "0.5.0"}
    key = getattr(forwarder, "key", None)
    if key is None:
        text = "The event's correlation id, else the id of the first event of its request."
    elif callable(key):
        text = f"Given by function `{qualified_name(key)}`."
    else:
        text = "A constant key."
    found.message_bindings["kafka"] = {
        "key": {"type": "string", "description": text},
        "bindingVersion": "0.5.0",
    }


def _rabbitmq(forwarder: Any, found: Destination) -> None:
    from ..handlers.rabbitmq import event_name

    exchange = getattr(forwarder, "exchange", None)
    name = str(getattr(exchange, "name", ""))
    shown = f"`{capped_text(name, 120)}`" if name else "(the default exchange)"
    if found.routed_by is not None and getattr(forwarder, "destination", None) is event_name:
        found.routed_by, found.address = None, "{eventName}"
        found.parameters[_EVENT_NAME_PARAMETER] = {"description": "The event name."}
        found.where = f"RabbitMQ exchange {shown}; the routing key is the event name."
    elif found.routed_by is not None:
        found.where = f"RabbitMQ exchange {shown}; routing key from function `{found.routed_by}`."
    else:
        key = capped_text(found.address or "", 120)
        found.where = f"RabbitMQ exchange {shown}; routing key `{key}`."
    found.name = name or "default"
    exchange_binding: dict[str, Any] = {"name": name, "type": _exchange_type(exchange)}
    durable = getattr(exchange, "durable", None)
    if durable is not None:
        exchange_binding["durable"] = bool(durable)
    found.bindings["amqp"] = {
        "is": "routingKey",
        "exchange": exchange_binding,
        "bindingVersion": "0.3.0",
    }
    found.operation_bindings["amqp"] = {
        "deliveryMode": int(getattr(forwarder, "delivery_mode", 2)),
        "mandatory": bool(getattr(forwarder, "mandatory", True)),
        "timestamp": True,
        "bindingVersion": "0.3.0",
    }


def _exchange_type(exchange: Any) -> str:
    kind = str(getattr(exchange, "type", "topic"))
    if not getattr(exchange, "name", ""):
        return "default"
    return kind if kind in _AMQP_EXCHANGE_TYPES else "topic"


def _redis(forwarder: Any, found: Destination) -> None:
    found.notes.append("Each event is one entry: the body in its `body` field, a field per header.")
    maxlen = getattr(forwarder, "maxlen", None)
    if isinstance(maxlen, int):
        found.notes.append(f"Trimmed to about {maxlen} entries.")


_DETAILS: dict[str, Callable[[Any, Destination], None]] = {
    "aws_sqs": _sqs,
    "aws.sns": _sns,
    "kafka": _kafka,
    "rabbitmq": _rabbitmq,
    "redis": _redis,
}

#: Attributes a consumer names its source by, most specific first.
_CONSUMER_SOURCES = (
    "queue_url",
    "subscription_path",
    "subscription",
    "topic",
    "topics",
    "queue",
    "queue_name",
    "stream",
    "streams",
    "subject",
)
_CONSUMER_SYSTEMS = {
    "SQSConsumer": "aws_sqs",
    "PubSubConsumer": "gcp_pubsub",
    "KafkaConsumer": "kafka",
    "RabbitMQConsumer": "rabbitmq",
    "RedisStreamConsumer": "redis",
    "NATSConsumer": "nats",
}


def consumer_destination(consumer: Any) -> Destination:
    """The channel a consumer (of ``fastapi_events.consumers``, or alike) reads from."""
    name = type(consumer).__name__
    system = str(getattr(consumer, "messaging_system", _CONSUMER_SYSTEMS.get(name, "custom")))
    kind = _KINDS.get(system, (f"{name} source", system))[0].replace("exchange", "queue")
    source = next((getattr(consumer, a) for a in _CONSUMER_SOURCES if hasattr(consumer, a)), None)
    if isinstance(source, (list, tuple)) and len(source) == 1:
        source = source[0]
    address = _address(source) if isinstance(source, str) else None
    found = Destination(system, kind, address, _short_name(system, address) if address else name)
    if isinstance(source, (list, tuple)):
        listed = ", ".join(f"`{capped_text(str(item), 120)}`" for item in source[:20])
        found.notes.append(f"Reads {listed}.")
    found.notes.append(f"Read by consumer {qualified_name(consumer)}.")
    return found
