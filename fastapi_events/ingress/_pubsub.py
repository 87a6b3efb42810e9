"""Pub/Sub push deliveries: ``{"message": {"data", "attributes", "messageId",
"publishTime"}, "subscription"}``, the wrapped form a push subscription POSTs.

The message is what the Pub/Sub forwarder published: the data is the body, the attributes
carry the metadata (or the ``ce-*`` attributes of binary CloudEvents).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .._event import Event
from ..consumers._events import event_from
from ..errors import IngressError, SerializationError
from ..serialization import decode
from ._fields import optional_string, parse_time, require_object, string_map, where

__all__ = ["pubsub_events"]

_MESSAGE = ("message",)


def pubsub_events(body: Any) -> list[Event]:
    """The event a push request carries.

    Raises:
        IngressError: the envelope or the message is not what a push subscription sends,
            or its data is not an event (the message names the field).
    """
    envelope = require_object(body, ())
    if "message" not in envelope:
        raise IngressError("message: missing (not a Pub/Sub push envelope)")
    message = require_object(envelope["message"], _MESSAGE)
    optional_string(envelope, "subscription", ())
    data = _data(message)
    attributes = string_map(message.get("attributes"), (*_MESSAGE, "attributes"))
    message_id = _either(message, "messageId", "message_id")
    if message_id is None:
        raise IngressError(f"{where((*_MESSAGE, 'messageId'))}: missing")
    published = _either(message, "publishTime", "publish_time")
    sent_at = None
    if published is not None:
        sent_at = parse_time(published, where((*_MESSAGE, "publishTime"))).timestamp()
    try:
        received = decode(data, attributes)
    except (SerializationError, RecursionError):  # RecursionError: nested too deep
        raise IngressError(
            f"{where((*_MESSAGE, 'data'))}: not an event (expected the JSON array "
            f"[name, payload] or a CloudEvent, with the Pub/Sub forwarder's attributes)"
        ) from None
    return [event_from(received, message_id, sent_at)]


def _data(message: Any) -> bytes:
    text = optional_string(message, "data", _MESSAGE)
    if text is None:
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise IngressError(f"{where((*_MESSAGE, 'data'))}: expected a base64 string") from None


def _either(message: Any, camel: str, snake: str) -> str | None:
    """A field push sends twice (``messageId`` and ``message_id``): whichever is there."""
    value = optional_string(message, camel, _MESSAGE)
    return value if value is not None else optional_string(message, snake, _MESSAGE)
