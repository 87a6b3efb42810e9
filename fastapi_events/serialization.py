"""How forwarders turn an event into a message body and attributes, and back.

The default body is 0.12's JSON array ``["name", payload]``. :class:`CloudEventsFormat`
writes CloudEvents 1.0 instead, structured (a JSON envelope) or binary (``ce-*``
attributes and the data as the body, as in Google's Pub/Sub binding). The event's
metadata travels in message attributes, never in the payload:

=================  ===========================================================
``event_name``     the event name (as matched: an Enum's value)
``event_id``       the event's id (``Event.id``)
``event_time``     when it was dispatched: seconds since the epoch, 6 decimals (``Event.unix_time``)
``content_type``   the body's media type (``content-type`` in binary CloudEvents)
``traceparent``    W3C trace context of the dispatch, when there is one
``tracestate``     idem, when not empty
``correlation_id`` the request's correlation id (``Event.correlation_id``), when there is one
=================  ===========================================================

A consumer turns a received message back into the event with :func:`decode`.

.. versionadded:: 1.0
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from ._event import Event
from ._json import dumps, json_default
from ._received import UNREAD, cloudevent_data, message_attributes, message_parts
from ._redact import capped_repr, capped_text, sized
from .errors import ConfigurationError, SerializationError

__all__ = [
    "JSON_CONTENT_TYPE",
    "CloudEventsFormat",
    "EncodedMessage",
    "JsonArrayFormat",
    "MessageFormat",
    "ReceivedEvent",
    "SerializationError",
    "Serializer",
    "decode",
    "dumps",
    "encode",
    "json_default",
    "message_attributes",
    "metadata_attributes",
]

JSON_CONTENT_TYPE = "application/json"
_CE_JSON_CONTENT_TYPE = "application/cloudevents+json"

#: 0.12's serializer: called with the ``(name, payload)`` pair, returns the body.
Serializer = Callable[[Any], str | bytes]


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """A message ready to send: a body and string attributes."""

    body: bytes
    attributes: dict[str, str] = field(default_factory=dict)


class MessageFormat:
    """Base class of message formats: subclass and implement :meth:`encode`.

    A format sees the whole :class:`~fastapi_events.Event` (metadata included), where a
    plain ``serializer=`` callable sees only the ``(name, payload)`` pair.
    """

    content_type = JSON_CONTENT_TYPE

    def encode(self, event: Event) -> EncodedMessage:
        """Return the body and attributes for ``event``."""
        raise NotImplementedError


class JsonArrayFormat(MessageFormat):
    """0.12's body, ``["name", payload]``, plus the metadata attributes (the default)."""

    def encode(self, event: Event) -> EncodedMessage:
        """Encode ``event`` as ``["name", payload]``."""
        body = dumps([event.key, event.payload]).encode()
        return EncodedMessage(body, metadata_attributes(event, self.content_type))


class CloudEventsFormat(MessageFormat):
    """CloudEvents 1.0: ``type`` is the event name, ``id`` the event id, ``data`` the payload.

    Args:
        source: the ``source`` attribute, a URI reference naming your service
            (e.g. ``"/orders-service"``).
        mode: ``"structured"`` (a JSON envelope as the body) or ``"binary"`` (``ce-*``
            attributes, the payload as a JSON body).

    Example::

        SQSForwardHandler(url, "eu-west-1", serializer=CloudEventsFormat("/orders"))
    """

    def __init__(self, source: str, *, mode: Literal["structured", "binary"] = "structured"):
        if not isinstance(source, str) or not source:
            raise ConfigurationError(
                f"CloudEventsFormat source must be a non-empty URI reference such as "
                f"'/my-service', got {capped_repr(source)}"
            )
        if mode not in ("structured", "binary"):
            raise ConfigurationError(
                f"CloudEventsFormat mode must be 'structured' or 'binary', got {capped_repr(mode)}"
            )
        self.source = source
        self.mode = mode
        self.content_type = _CE_JSON_CONTENT_TYPE if mode == "structured" else JSON_CONTENT_TYPE

    def encode(self, event: Event) -> EncodedMessage:
        """Encode ``event`` as a CloudEvent."""
        envelope = {
            "specversion": "1.0",
            "id": event.id,
            "source": self.source,
            "type": event.key,
            "time": event.timestamp.isoformat(),
            "datacontenttype": JSON_CONTENT_TYPE,
        }
        if self.mode == "structured":
            body = dumps({**envelope, "data": event.payload}).encode()
            return EncodedMessage(body, metadata_attributes(event, self.content_type))
        attributes = {
            f"ce-{key}": value for key, value in envelope.items() if key != "datacontenttype"
        }
        attributes["content-type"] = JSON_CONTENT_TYPE
        if event.correlation_id:  # a CloudEvents extension: lower-case letters only
            attributes["ce-correlationid"] = event.correlation_id
        attributes.update(_trace_attributes(event))
        return EncodedMessage(dumps(event.payload).encode(), attributes)


_DEFAULT_FORMAT = JsonArrayFormat()


def metadata_attributes(event: Event, content_type: str) -> dict[str, str]:
    """The attributes every message carries: name, id, time, content type and trace context."""
    attributes = {
        "event_name": event.key,
        "event_id": event.id,
        "event_time": f"{event.unix_time:.6f}",
        "content_type": content_type,
    }
    if event.correlation_id:
        attributes["correlation_id"] = event.correlation_id
    attributes.update(_trace_attributes(event))
    return attributes


def _trace_attributes(event: Event) -> dict[str, str]:
    context = event.trace_context
    if not context:
        return {}
    return {k: v for k in ("traceparent", "tracestate") if (v := context.get(k))}


def encode(event: Event, serializer: Serializer | MessageFormat | None = None) -> EncodedMessage:
    """Encode ``event`` with ``serializer`` (default: :class:`JsonArrayFormat`).

    A plain callable gets the ``(name, payload)`` pair, as in 0.12, and returns the body.

    Raises:
        SerializationError: the event cannot be encoded; the message names it and why.
    """
    try:
        if serializer is None or isinstance(serializer, MessageFormat):
            return (serializer or _DEFAULT_FORMAT).encode(event)
        body = serializer((event.name, event.payload))
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            raise TypeError(f"the serializer returned {type(body).__name__}, expected str or bytes")
        return EncodedMessage(body, metadata_attributes(event, JSON_CONTENT_TYPE))
    except SerializationError:
        raise
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"cannot serialize event {capped_repr(event.key)} (id {event.id}): "
            f"{capped_text(str(exc))}; make the payload JSON-compatible or pass serializer="
        ) from exc


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An event read back from a message by :func:`decode`.

    Unpacks like the event: ``name, payload = decode(message)``.
    """

    name: str
    payload: Any
    id: str | None = None
    time: datetime | None = None
    source: str | None = None
    trace_context: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Any:
        return iter((self.name, self.payload))

    @property
    def correlation_id(self) -> str | None:
        """The sender's ``Event.correlation_id``, when the message carries one."""
        attributes = self.attributes
        return attributes.get("correlation_id") or attributes.get("ce-correlationid")


def decode(message: Any, attributes: Mapping[str, Any] | None = None) -> ReceivedEvent:
    """Turn a received message back into the event a forwarder sent.

    ``message`` is a message as SQS's ``receive_message`` returns it (a dict with
    ``Body`` and ``MessageAttributes``; from an SNS subscription with or without raw
    delivery), an SNS notification (Lambda's ``record["Sns"]``), a Pub/Sub message
    (``.data`` and ``.attributes``), a NATS message (``.data`` and ``.headers``), the
    fields of a Redis stream entry (``body`` and one field per attribute, str or bytes), a
    Kafka record (``value`` and ``headers``, as aiokafka's ``ConsumerRecord``), an AMQP
    message (aio-pika's: ``.body`` and ``.headers``, CloudEvents as ``cloudEvents_*``
    headers), a body (``str``/``bytes``) with its ``attributes``, or a structured CloudEvent
    already parsed from JSON (a mapping with ``specversion``; ``data_base64`` gives bytes).
    Every format of this module is recognised: the JSON array, structured and binary
    CloudEvents.

    Raises:
        SerializationError: the message is none of these formats.

    Example::

        for message in sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])[
            "Messages"
        ]:
            name, payload = decode(message)
    """
    return decode_parts(*message_parts(message, attributes))


def decode_parts(body: Any, attrs: dict[str, str], data: Any = UNREAD) -> ReceivedEvent:
    """:func:`decode` from the body and attributes :func:`message_parts` read (``data``:
    the body already parsed from JSON, else :data:`UNREAD`)."""
    trace: dict[str, str] = {k: attrs[k] for k in ("traceparent", "tracestate") if k in attrs}
    try:
        if "ce-specversion" in attrs:
            return _from_binary_cloudevent(body, attrs, trace)
        if data is UNREAD:
            data = body if isinstance(body, Mapping) else json.loads(body)
        if isinstance(data, Mapping) and "specversion" in data:
            return _from_cloudevent(data, cloudevent_data(data), attrs, trace)
        if isinstance(data, list) and len(data) == 2 and isinstance(data[0], str):
            when = _attribute_time(attrs.get("event_time"))
            return ReceivedEvent(data[0], data[1], attrs.get("event_id"), when, None, trace, attrs)
    except (ValueError, KeyError, TypeError) as exc:
        raise SerializationError(f"not a fastapi_events message: {capped_text(str(exc))}") from exc
    raise SerializationError(
        f"not a fastapi_events message: expected [name, payload] or a CloudEvent, got {sized(body)}"
    )


def _attribute_time(value: str | None) -> datetime | None:
    """The ``event_time`` attribute as an aware UTC datetime (``None``: absent or not a
    number, as in messages from before 1.0 or other producers)."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def _from_binary_cloudevent(
    body: str | bytes, attrs: dict[str, str], trace: dict[str, str]
) -> ReceivedEvent:
    envelope = {key[3:]: value for key, value in attrs.items() if key.startswith("ce-")}
    return _from_cloudevent(envelope, json.loads(body) if body else None, attrs, trace)


def _from_cloudevent(
    envelope: Mapping[str, Any], data: Any, attrs: dict[str, str], trace: dict[str, str]
) -> ReceivedEvent:
    time = envelope.get("time")
    when = datetime.fromisoformat(time.replace("Z", "+00:00")) if time else None
    extension = {k: envelope[k] for k in ("traceparent", "tracestate") if k in envelope}
    return ReceivedEvent(
        envelope["type"],
        data,
        envelope["id"],
        when,
        envelope.get("source"),
        {**extension, **trace},
        attrs,
    )
