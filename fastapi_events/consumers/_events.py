"""A delivery back into the :class:`~fastapi_events.Event` its producer dispatched."""

from __future__ import annotations

import base64
import time
from typing import Any

from .._event import Event
from .._received import body_and_attributes
from .._redact import capped_text
from ..serialization import ReceivedEvent, decode
from ._delivery import Delivery

__all__ = ["UNDECODABLE_EVENT", "event_from", "event_of", "undecodable_event"]

#: The name of the stand-in event a dead-letter handler receives for a message that is
#: not an event this library writes (its payload holds the raw body and attributes).
UNDECODABLE_EVENT = "fastapi_events.undecodable"


def event_of(delivery: Delivery) -> Event:
    """The event ``delivery`` carries: same id, name, payload, timestamp, correlation id
    and trace context as at dispatch.

    The timestamp is the dispatch time the message carries (``event_time``, CloudEvents'
    ``time``), else the broker's
    (when it took the message), else now. A message without an event id (written by
    other code) gets the broker's message id, which is stable across redeliveries.

    Raises:
        SerializationError: the message is not an event this library writes.
    """
    return event_from(decode(delivery.message), delivery.message_id, delivery.sent_at)


def event_from(received: ReceivedEvent, message_id: str, sent_at: float | None) -> Event:
    """The event ``received`` holds: its id, else ``message_id``; its time, else
    ``sent_at`` (when the broker took it), else now."""
    when = received.time.timestamp() if received.time is not None else sent_at
    return Event(
        received.name,
        received.payload,
        id=received.id or message_id,
        timestamp=time.time() if when is None else when,
        trace_context=received.trace_context or None,
        correlation_id=received.correlation_id,
    )


def undecodable_event(delivery: Delivery, error: Exception) -> Event:
    """A stand-in event for a message :func:`event_of` refused, for the dead-letter
    handler: ``{"body", "encoding", "attributes", "error"}``, the body as text (UTF-8) or
    base64, so nothing of the message is lost."""
    try:
        body, attributes = body_and_attributes(delivery.message, None)
    except Exception:  # not even a body and attributes: keep its type only
        body, attributes = b"", {}
    text, encoding = _text(body)
    payload = {
        "body": text,
        "encoding": encoding,
        "attributes": attributes,
        "error": f"{type(error).__name__}: {capped_text(str(error))}",
    }
    when = time.time() if delivery.sent_at is None else delivery.sent_at
    return Event(UNDECODABLE_EVENT, payload, id=delivery.message_id, timestamp=when)


def _text(body: Any) -> tuple[str, str]:
    if isinstance(body, str):
        return body, "utf-8"
    raw = body if isinstance(body, bytes) else bytes(body or b"")
    try:
        return raw.decode(), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
