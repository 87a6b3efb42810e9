"""Reading a received message's body and string attributes, whatever wire it came from.

SQS gives a dict with ``Body`` and ``MessageAttributes``; Pub/Sub a message with ``.data``
and ``.attributes``; NATS a message with ``.data`` and ``.headers`` (values
percent-encoded, see ``_nats_headers``); a Redis stream entry is a mapping of fields, the
body under :data:`STREAM_BODY_FIELD` and each attribute under its own name (CloudEvents
binary attributes as ``ce_<name>``, as Kafka headers do, since Redis has no CloudEvents
binding).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._nats_headers import header_attributes

__all__ = [
    "STREAM_BODY_FIELD",
    "body_and_attributes",
    "message_attributes",
    "stream_fields",
]

#: The field of a Redis stream entry that holds the message body.
STREAM_BODY_FIELD = "body"
_CE_WIRE, _CE_FIELD = "ce-", "ce_"


def body_and_attributes(
    message: Any, attributes: Mapping[str, Any] | None
) -> tuple[str | bytes, dict[str, str]]:
    """The body and attributes of ``message`` (see :func:`fastapi_events.serialization.decode`)."""
    if isinstance(message, Mapping) and "Body" in message:
        return message["Body"], message_attributes(message)
    if isinstance(message, Mapping) and _field(message, STREAM_BODY_FIELD) is not None:
        return _from_stream_entry(message)
    if hasattr(message, "data") and hasattr(message, "attributes"):
        return message.data, message_attributes(message)
    if _is_nats(message):
        return message.data, header_attributes(message.headers)
    return message, message_attributes(attributes or {})


def message_attributes(message: Any) -> dict[str, str]:
    """The string attributes of a received message: an SQS message dict (its
    ``MessageAttributes``), a Pub/Sub message or a decoded event (``.attributes``), a
    Redis stream entry's fields, or a mapping of attributes (SQS-shaped values or plain
    strings), or a NATS message (its ``.headers``)."""
    if _is_nats(message):
        return header_attributes(message.headers)
    if isinstance(message, Mapping):
        if "Body" in message:
            raw = message.get("MessageAttributes", {})
        elif _field(message, STREAM_BODY_FIELD) is not None:
            return _from_stream_entry(message)[1]
        else:
            raw = message
    else:
        raw = getattr(message, "attributes", None) or {}
    return {key: _attribute_value(value) for key, value in raw.items()}


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


def _from_stream_entry(fields: Mapping[Any, Any]) -> tuple[bytes, dict[str, str]]:
    attributes: dict[str, str] = {}
    body = b""
    for key, value in fields.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name == STREAM_BODY_FIELD:
            body = value if isinstance(value, bytes) else str(value).encode()
            continue
        if name.startswith(_CE_FIELD):
            name = _CE_WIRE + name[len(_CE_FIELD) :]
        attributes[name] = value.decode() if isinstance(value, bytes) else str(value)
    return body, attributes


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    value = fields.get(name)
    return fields.get(name.encode()) if value is None else value


def _attribute_value(value: Any) -> str:
    if isinstance(value, Mapping):  # SQS: {"DataType": "String", "StringValue": "..."}
        return str(value.get("StringValue", ""))
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
