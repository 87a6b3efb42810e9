"""How a forwarder's messages look on the wire: the body's format and the headers it carries.

The attribute names come from the library's own encoders, applied to a made-up event (never
from a user's serializer), then renamed as each wire renames them: Kafka headers
(``ce_id``, ``content-type``), Redis stream fields (``ce_id``), AMQP headers
(``cloudEvents_id``), NATS headers (``Nats-Msg-Id``, ``Content-Type``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._event import Event
from .._nats_headers import nats_headers
from .._received import amqp_headers, kafka_headers, stream_fields
from ..serialization import (
    JSON_CONTENT_TYPE,
    CloudEventsFormat,
    JsonArrayFormat,
    MessageFormat,
    metadata_attributes,
)
from ._events import EventEntry, qualified_name

__all__ = ["WireFormat", "body_schema", "extra_attributes", "format_of", "headers_schema"]

_OPTIONAL = frozenset({"correlation_id", "traceparent", "tracestate", "ce-correlationid"})
#: Attributes whose value is the same for every message of a format.
_CONSTANT = frozenset({"content_type", "content-type", "ce-specversion", "ce-source"})
#: Attributes whose value is the event name.
_NAMED = frozenset({"event_name", "ce-type"})
_DESCRIPTIONS = {
    "event_name": "The event name.",
    "event_id": "The event's unique id (Event.id): consumers de-duplicate by it.",
    "event_time": "When the event was dispatched, in seconds since the epoch (6 decimals).",
    "content_type": "The body's media type.",
    "correlation_id": "The correlation id of the request that dispatched the event, if any.",
    "traceparent": "W3C trace context of the dispatch, when it was traced.",
    "tracestate": "W3C trace state of the dispatch, when not empty.",
    "ce-id": "CloudEvents id: the event's unique id.",
    "ce-type": "CloudEvents type: the event name.",
    "ce-source": "CloudEvents source.",
    "ce-specversion": "CloudEvents specification version.",
    "ce-time": "CloudEvents time: when the event was dispatched (RFC 3339).",
    "content-type": "The data's media type.",
    "ce-correlationid": "CloudEvents extension: the correlation id, if any.",
}
_SAMPLE = Event(
    "name",
    None,
    id="id",
    timestamp=0.0,
    trace_context={"traceparent": "tp", "tracestate": "ts"},
    correlation_id="cid",
)


@dataclass(frozen=True, slots=True)
class WireFormat:
    """A forwarder's body format.

    Attributes:
        kind: ``json-array``, ``cloudevents-structured``, ``cloudevents-binary`` or ``custom``.
        label: a sentence describing the body.
        content_type: the body's media type.
        attributes: the attributes every message carries, name -> value of the sample
            event (``None``: unknown, a custom format).
        source: the CloudEvents ``source``, for CloudEvents.
    """

    kind: str
    label: str
    content_type: str
    attributes: Mapping[str, str] | None
    source: str | None = None


def format_of(serializer: object) -> WireFormat:
    """The format a forwarder's ``serializer`` (None, a format or a function) writes."""
    if serializer is None or type(serializer) is JsonArrayFormat:
        attributes = JsonArrayFormat().encode(_SAMPLE).attributes
        label = 'The JSON array ["name", payload] (the body of fastapi-events 0.12).'
        return WireFormat("json-array", label, JSON_CONTENT_TYPE, attributes)
    if isinstance(serializer, CloudEventsFormat):
        attributes = serializer.encode(_SAMPLE).attributes
        if serializer.mode == "binary":
            label = "CloudEvents 1.0, binary mode: ce-* attributes, the payload as the body."
            kind, content_type = "cloudevents-binary", JSON_CONTENT_TYPE
        else:
            label = "CloudEvents 1.0, structured mode: a JSON envelope, the payload as data."
            kind, content_type = "cloudevents-structured", serializer.content_type
        return WireFormat(kind, label, content_type, attributes, serializer.source)
    if isinstance(serializer, MessageFormat):
        label = f"A custom message format, {qualified_name(serializer)}."
        return WireFormat("custom", label, serializer.content_type, None)
    label = f"The body the serializer function {qualified_name(serializer)} writes."
    attributes = metadata_attributes(_SAMPLE, JSON_CONTENT_TYPE)
    return WireFormat("custom", label, JSON_CONTENT_TYPE, attributes)


def body_schema(wire: WireFormat, entry: EventEntry, payload: dict[str, Any]) -> dict[str, Any]:
    """The schema of the message body of ``entry`` in ``wire``'s format."""
    if wire.kind == "json-array":
        return {
            "type": "array",
            "items": [_name_schema(entry), payload],
            "minItems": 2,
            "maxItems": 2,
            "additionalItems": False,
        }
    if wire.kind == "cloudevents-structured":
        return _envelope(wire, entry, payload)
    if wire.kind == "cloudevents-binary":
        return payload
    return {"description": wire.label}


def _name_schema(entry: EventEntry) -> dict[str, Any]:
    if entry.pattern:
        return {"type": "string", "description": f"An event name matching {entry.key!r}."}
    return {"const": entry.key, "description": "The event name."}


def _envelope(wire: WireFormat, entry: EventEntry, payload: dict[str, Any]) -> dict[str, Any]:
    source = wire.source
    properties: dict[str, Any] = {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "description": "The event's unique id."},
        "source": {"const": source} if source else {"type": "string"},
        "type": _name_schema(entry),
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"const": JSON_CONTENT_TYPE},
        "data": payload,
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def headers_schema(
    wire: WireFormat,
    system: str,
    entry: EventEntry,
    extra: object = None,
) -> dict[str, Any] | None:
    """The schema of the headers (message attributes) of ``entry``'s messages.

    Args:
        wire: the body format.
        system: the forwarder's ``messaging_system`` (how the wire renames attributes).
        entry: the event.
        extra: the forwarder's own extra attributes: a mapping (its names are listed) or
            a function of the event.
    """
    if wire.attributes is None:
        return None
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, canonical in _on_the_wire(system, wire.attributes):
        properties[name] = _header(canonical, wire.attributes, entry)
        if canonical not in _OPTIONAL:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if isinstance(extra, Mapping):
        for name in extra:
            properties.setdefault(str(name), {"type": "string", "description": "Extra, constant."})
    elif callable(extra):
        schema["description"] = f"Plus the attributes {qualified_name(extra)} gives."
    return schema


def _header(canonical: str, sample: Mapping[str, str], entry: EventEntry) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if canonical in _CONSTANT and canonical in sample:
        schema["const"] = sample[canonical]
    elif canonical in _NAMED and not entry.pattern:
        schema["const"] = entry.key
    if canonical == "ce-time":
        schema["format"] = "date-time"
    schema["description"] = _DESCRIPTIONS.get(canonical, "Set by the message format.")
    return schema


def _on_the_wire(system: str, attributes: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(wire name, attribute name)`` pairs: each attribute as ``system`` names it."""
    marked = {name: name for name in attributes}  # each value names its attribute
    rename = _RENAMES.get(system)
    return list(marked.items()) if rename is None else rename(marked)


def _kafka(marked: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, value.decode()) for name, value in kafka_headers(marked)]


def _redis(marked: dict[str, str]) -> list[tuple[str, str]]:
    fields = stream_fields(b"", marked)
    return [(name, str(value)) for name, value in fields.items() if isinstance(value, str)]


def _amqp(marked: dict[str, str]) -> list[tuple[str, str]]:
    headers, _ = amqp_headers(marked)
    return list(headers.items())


def _nats(marked: dict[str, str]) -> list[tuple[str, str]]:
    return list(nats_headers("event_id", marked).items())


_RENAMES: dict[str, Callable[[dict[str, str]], list[tuple[str, str]]]] = {
    "kafka": _kafka,
    "redis": _redis,
    "rabbitmq": _amqp,
    "nats": _nats,
}


def extra_attributes(forwarder: object) -> object:
    """A forwarder's own extra attributes (SQS, SNS, Pub/Sub) or headers (Kafka)."""
    for name in ("attributes", "headers"):
        extra = getattr(forwarder, name, None)
        if isinstance(extra, Mapping) or callable(extra):
            return extra
    return None
