"""Reading a received message's body and string attributes, whatever wire it came from.

SQS gives a dict with ``Body`` and ``MessageAttributes`` (a queue subscribed to an SNS topic
without raw delivery: an SNS notification as the ``Body``, whose ``Message`` and
``MessageAttributes`` are the message's); Pub/Sub a message with ``.data`` and
``.attributes``; a Redis stream entry is a mapping of fields, the body under
:data:`STREAM_BODY_FIELD` and each attribute under its own name (CloudEvents binary
attributes as ``ce_<name>``, as Kafka headers do, since Redis has no CloudEvents binding);
a Kafka record has a ``value`` and ``headers``, ``(name, bytes)`` pairs (aiokafka's
``ConsumerRecord``, the CloudEvents SDK's ``KafkaMessage``; confluent-kafka's methods too);
an AMQP message (aio-pika's) has ``.body`` and ``.headers``, CloudEvents binary attributes
as ``cloudEvents_<name>`` (or ``cloudEvents:<name>``) headers, by the AMQP binding; a NATS
message has ``.data`` and ``.headers``, values percent-encoded (see ``_nats_headers``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from ._nats_headers import header_attributes

__all__ = [
    "AMQP_CE_PREFIX",
    "STREAM_BODY_FIELD",
    "UNREAD",
    "amqp_headers",
    "body_and_attributes",
    "cloudevent_data",
    "kafka_headers",
    "message_attributes",
    "message_parts",
    "stream_fields",
]

#: The field of a Redis stream entry that holds the message body.
STREAM_BODY_FIELD = "body"
_CE_WIRE, _CE_FIELD = "ce-", "ce_"
#: The prefix of CloudEvents attributes in AMQP headers (the AMQP binding's JMS-safe one).
AMQP_CE_PREFIX = "cloudEvents_"
_AMQP_CE_PREFIXES = (AMQP_CE_PREFIX, "cloudEvents:")
_SNS_NOTIFICATION = "Notification"
#: A body not parsed from JSON yet (``None`` is a JSON value).
UNREAD: Any = object()


def message_parts(
    message: Any, attributes: Mapping[str, Any] | None = None
) -> tuple[Any, dict[str, str]]:
    """The body and attributes :func:`fastapi_events.serialization.decode` reads from
    ``message``: a structured CloudEvent already parsed is its own body."""
    if (type(message) is dict or isinstance(message, Mapping)) and "specversion" in message:
        return message, message_attributes(attributes or {})
    return body_and_attributes(message, attributes)


def body_and_attributes(
    message: Any, attributes: Mapping[str, Any] | None
) -> tuple[str | bytes, dict[str, str]]:
    """The body and attributes of ``message`` (see :func:`fastapi_events.serialization.decode`)."""
    if type(message) is not dict:  # a plain dict (SQS, Redis) is never an AMQP message
        if _is_amqp(message):  # first: what a RabbitMQ consumer decodes for every message
            return message.body, message_attributes(message)
        if not isinstance(message, Mapping):
            return _object_parts(message, attributes)
    if "Body" in message:
        envelope = _sns_envelope(message["Body"])
        if envelope is not None:
            return envelope["Message"], _sns_attributes(envelope)
        return message["Body"], message_attributes(message)
    if _is_notification(message):
        return message["Message"], _sns_attributes(message)
    if _field(message, STREAM_BODY_FIELD) is not None:
        return _from_stream_entry(message)
    return _object_parts(message, attributes)


def _object_parts(message: Any, attributes: Mapping[str, Any] | None) -> tuple[Any, dict[str, str]]:
    """:func:`body_and_attributes` of what is neither AMQP nor one of the mappings."""
    if hasattr(message, "data") and hasattr(message, "attributes"):
        return message.data, message_attributes(message)
    if _is_nats(message):
        return message.data, header_attributes(message.headers)
    if _is_kafka_record(message):
        return _from_kafka_record(message)
    return message, message_attributes(attributes or {})


def message_attributes(message: Any) -> dict[str, str]:
    """The string attributes of a received message: an SQS message dict (its
    ``MessageAttributes``, or those of the SNS notification it holds), an SNS notification,
    a Pub/Sub message or a decoded event (``.attributes``), a Redis stream entry's fields,
    an AMQP or NATS message (its ``.headers``), or a mapping of attributes (SQS- or SNS-shaped
    values, or plain strings)."""
    if _is_amqp(message):
        raw = message.headers or {}
        return {_attribute_name(key): _attribute_value(value) for key, value in raw.items()}
    if _is_nats(message):
        return header_attributes(message.headers)
    if isinstance(message, Mapping):
        if "Body" in message:
            envelope = _sns_envelope(message["Body"])
            if envelope is not None:
                return _sns_attributes(envelope)
            raw = message.get("MessageAttributes", {})
        elif _is_sns_notification(message):
            return _sns_attributes(message)
        elif _field(message, STREAM_BODY_FIELD) is not None:
            return _from_stream_entry(message)[1]
        else:
            raw = message
    elif _is_kafka_record(message):
        return _from_kafka_record(message)[1]
    else:
        raw = getattr(message, "attributes", None) or {}
    return {_attribute_name(key): _attribute_value(value) for key, value in raw.items()}


def cloudevent_data(envelope: Mapping[str, Any]) -> Any:
    """A structured CloudEvent's data: ``data``, or the bytes ``data_base64`` holds."""
    if "data" not in envelope and "data_base64" in envelope:
        return base64.b64decode(envelope["data_base64"], validate=True)
    return envelope.get("data")


def stream_fields(body: bytes, attributes: Mapping[str, str]) -> dict[str, bytes | str]:
    """The fields of a Redis stream entry carrying ``body`` and ``attributes``."""
    fields: dict[str, bytes | str] = {STREAM_BODY_FIELD: body}
    for key, value in attributes.items():
        name = _CE_FIELD + key[len(_CE_WIRE) :] if key.startswith(_CE_WIRE) else key
        fields[name] = value
    return fields


def _is_nats(message: Any) -> bool:
    """A NATS message (nats-py's ``Msg``, a stream's ``RawStreamMsg``): ``.data`` and
    ``.headers``, no ``.attributes`` (Pub/Sub)."""
    return (
        hasattr(message, "data")
        and hasattr(message, "headers")
        and not hasattr(message, "attributes")
    )


def kafka_headers(attributes: Mapping[str, str | bytes]) -> list[tuple[str, bytes]]:
    """The headers of a Kafka record carrying ``attributes``: ``ce-`` attributes as
    ``ce_`` headers and the body's media type as ``content-type`` too (the CloudEvents
    Kafka protocol binding)."""
    headers = [
        (
            _CE_FIELD + key[3:] if key[:3] == _CE_WIRE else key,
            value.encode() if isinstance(value, str) else value,
        )
        for key, value in attributes.items()
    ]
    content_type = attributes.get("content_type")
    if content_type is not None and "content-type" not in attributes:
        headers.append(("content-type", _bytes(content_type)))
    return headers


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _is_kafka_record(message: Any) -> bool:
    return hasattr(message, "value") and hasattr(message, "headers")


def _from_kafka_record(record: Any) -> tuple[bytes, dict[str, str]]:
    value, headers = _member(record, "value"), _member(record, "headers")
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    attributes: dict[str, str] = {}
    for key, raw in pairs:
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name.startswith(_CE_FIELD):
            name = _CE_WIRE + name[len(_CE_FIELD) :]
        attributes[name] = raw.decode() if isinstance(raw, bytes) else str(raw or "")
    body = value if isinstance(value, bytes) else str(value or "").encode()
    return body, attributes


def _member(record: Any, name: str) -> Any:
    # aiokafka and the CloudEvents SDK have attributes; confluent-kafka has methods.
    member = getattr(record, name)
    return member() if callable(member) else member


def amqp_headers(attributes: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """The headers and ``content_type`` property of an AMQP message carrying
    ``attributes``: ``ce-<name>`` attributes become ``cloudEvents_<name>`` headers and
    binary CloudEvents' ``content-type`` the property (the CloudEvents AMQP binding); the
    others are headers under their own names."""
    headers: dict[str, str] = {}
    content_type = attributes.get("content_type")
    for key, value in attributes.items():
        if key == "content-type":
            content_type = value
        elif key.startswith(_CE_WIRE):
            headers[AMQP_CE_PREFIX + key[len(_CE_WIRE) :]] = value
        else:
            headers[key] = value
    return headers, content_type


def _is_amqp(message: Any) -> bool:
    return isinstance(getattr(message, "body", None), bytes) and hasattr(message, "headers")


def _attribute_name(key: Any) -> str:
    name = key.decode() if isinstance(key, bytes) else str(key)
    if name.startswith(_AMQP_CE_PREFIXES):
        prefix = AMQP_CE_PREFIX if name.startswith(AMQP_CE_PREFIX) else _AMQP_CE_PREFIXES[1]
        return _CE_WIRE + name[len(prefix) :]
    return name


def _from_stream_entry(fields: Mapping[Any, Any]) -> tuple[bytes, dict[str, str]]:
    attributes: dict[str, str] = {}
    body = b""
    names = _FIELD_NAMES
    for key, value in fields.items():
        name = names.get(key)
        if name is None:
            name = _field_name(key)
        if name == STREAM_BODY_FIELD:
            body = value if isinstance(value, bytes) else str(value).encode()
            continue
        attributes[name] = value.decode() if type(value) is bytes else str(value)
    return body, attributes


#: Field name (as Redis returns it) -> attribute name; bounded (names come from messages).
_FIELD_NAMES: dict[Any, str] = {}
_FIELD_NAMES_MAX = 256


def _field_name(key: Any) -> str:
    name = key.decode() if isinstance(key, bytes) else str(key)
    if name.startswith(_CE_FIELD):
        name = _CE_WIRE + name[len(_CE_FIELD) :]
    if len(_FIELD_NAMES) < _FIELD_NAMES_MAX and isinstance(key, (str, bytes)):
        _FIELD_NAMES[key] = name
    return name


def _is_sns_notification(message: Any) -> bool:
    return isinstance(message, Mapping) and _is_notification(message)


def _is_notification(message: Mapping[Any, Any]) -> bool:
    return (
        message.get("Type") == _SNS_NOTIFICATION
        and "TopicArn" in message
        and isinstance(message.get("Message"), str)
    )


def _sns_envelope(body: Any) -> Mapping[str, Any] | None:
    """The SNS notification an SQS body holds, if it is one (cheap test first)."""
    if not isinstance(body, str) or '"TopicArn"' not in body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if _is_sns_notification(data) else None


def _sns_attributes(notification: Mapping[str, Any]) -> dict[str, str]:
    raw = notification.get("MessageAttributes") or {}
    return {key: _attribute_value(value) for key, value in raw.items()}


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    value = fields.get(name)
    return fields.get(name.encode()) if value is None else value


def _attribute_value(value: Any) -> str:
    if type(value) is str:  # AMQP headers, plain attributes: no ABC check
        return value
    if isinstance(value, Mapping):  # SQS: {"DataType": "String", "StringValue": "..."}
        return str(value.get("StringValue", value.get("Value", "")))  # SNS: {"Type", "Value"}
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
