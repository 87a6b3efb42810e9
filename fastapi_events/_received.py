"""Reading a received message's body and string attributes, whatever wire it came from.

SQS gives a dict with ``Body`` and ``MessageAttributes`` (a queue subscribed to an SNS topic
without raw delivery: an SNS notification as the ``Body``, whose ``Message`` and
``MessageAttributes`` are the message's); Pub/Sub a message with ``.data`` and
``.attributes``; a Redis stream entry is a mapping of fields, the body under
:data:`STREAM_BODY_FIELD` and each attribute under its own name (CloudEvents binary
attributes as ``ce_<name>``, as Kafka headers do, since Redis has no CloudEvents binding).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "STREAM_BODY_FIELD",
    "body_and_attributes",
    "message_attributes",
    "stream_fields",
]

#: The field of a Redis stream entry that holds the message body.
STREAM_BODY_FIELD = "body"
_CE_WIRE, _CE_FIELD = "ce-", "ce_"
_SNS_NOTIFICATION = "Notification"


def body_and_attributes(
    message: Any, attributes: Mapping[str, Any] | None
) -> tuple[str | bytes, dict[str, str]]:
    """The body and attributes of ``message`` (see :func:`fastapi_events.serialization.decode`)."""
    if isinstance(message, Mapping) and "Body" in message:
        envelope = _sns_envelope(message["Body"])
        if envelope is not None:
            return envelope["Message"], _sns_attributes(envelope)
        return message["Body"], message_attributes(message)
    if _is_sns_notification(message):
        return message["Message"], _sns_attributes(message)
    if isinstance(message, Mapping) and _field(message, STREAM_BODY_FIELD) is not None:
        return _from_stream_entry(message)
    if hasattr(message, "data") and hasattr(message, "attributes"):
        return message.data, message_attributes(message)
    return message, message_attributes(attributes or {})


def message_attributes(message: Any) -> dict[str, str]:
    """The string attributes of a received message: an SQS message dict (its
    ``MessageAttributes``, or those of the SNS notification it holds), an SNS notification,
    a Pub/Sub message or a decoded event (``.attributes``), a Redis stream entry's fields,
    or a mapping of attributes (SQS- or SNS-shaped values, or plain strings)."""
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


def _is_sns_notification(message: Any) -> bool:
    return (
        isinstance(message, Mapping)
        and message.get("Type") == _SNS_NOTIFICATION
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
    if isinstance(value, Mapping):  # SQS: {"DataType": "String", "StringValue": "..."}
        return str(value.get("StringValue", value.get("Value", "")))  # SNS: {"Type", "Value"}
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
