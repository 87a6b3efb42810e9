"""A delivery back into the :class:`~fastapi_events.Event` its producer dispatched."""

from __future__ import annotations

import base64
import json
from time import time as _now
from typing import Any

from .._event import Event
from .._received import UNREAD, body_and_attributes, message_parts
from .._redact import capped_text
from ..serialization import ReceivedEvent, _attribute_time, decode_parts
from ._delivery import Delivery

__all__ = ["UNDECODABLE_EVENT", "event_from", "event_of", "undecodable_event"]

#: The name of the stand-in event a dead-letter handler receives for a message that is
#: not an event this library writes (its payload holds the raw body and attributes).
UNDECODABLE_EVENT = "fastapi_events.undecodable"
_JSON = json.JSONDecoder()  # what json.loads() uses without arguments
#: Seconds below which a timestamp with 6 decimals is its own microsecond (2 ** 33).
_EXACT_BELOW = 8589934592.0


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
    body, attrs = message_parts(delivery.message)
    if "ce-specversion" in attrs or not isinstance(body, (str, bytes, bytearray)):
        received = decode_parts(body, attrs)
    else:
        try:
            data = _load_json(body)
        except ValueError:
            data = UNREAD  # decode_parts raises the error decode() raises
        if type(data) is list and len(data) == 2 and type(data[0]) is str:
            return _array_event(data, attrs, delivery)  # the default format, parsed once
        received = decode_parts(body, attrs, data)
    return event_from(received, delivery.message_id, delivery.sent_at)


def _array_event(data: list[Any], attrs: dict[str, str], delivery: Delivery) -> Event:
    """What :func:`event_from` makes of ``decode()``'s ``ReceivedEvent`` for a
    ``["name", payload]`` body, without that object and its datetime in between."""
    when = _event_seconds(attrs.get("event_time"))
    if when is None:
        when = delivery.sent_at
    trace: dict[str, str] | None = None
    if "traceparent" in attrs or "tracestate" in attrs:
        trace = {k: attrs[k] for k in ("traceparent", "tracestate") if k in attrs}
    name = data[0]
    return Event(
        name,
        data[1],
        name,
        id=attrs.get("event_id") or delivery.message_id,
        timestamp=_now() if when is None else when,
        trace_context=trace,
        correlation_id=attrs.get("correlation_id") or attrs.get("ce-correlationid"),
    )


def _load_json(body: str | bytes | bytearray) -> Any:
    """``json.loads(body)``; a body that starts ``[`` and a character is UTF-8 (what
    ``json.detect_encoding`` would find), decoded without asking it."""
    if type(body) is bytes and body[:1] == b"[" and body[1:2] not in (b"", b"\x00"):
        return _JSON.decode(body.decode("utf-8", "surrogatepass"))
    return json.loads(body)


def _event_seconds(value: str | None) -> float | None:
    """``decode()``'s ``event_time`` datetime as seconds (``None``: absent or no time).

    What forwarders write (6 decimals, before the year 2242) is ``float(value)`` exactly:
    the datetime's microsecond is that value's, and back to seconds gives the same float.
    """
    if value and len(value) > 7 and value[-7] == ".":
        try:
            seconds = float(value)
        except ValueError:
            return None
        if 0.0 < seconds < _EXACT_BELOW:
            return seconds
    time = _attribute_time(value)
    return None if time is None else time.timestamp()


def event_from(received: ReceivedEvent, message_id: str, sent_at: float | None) -> Event:
    """The event ``received`` holds: its id, else ``message_id``; its time, else
    ``sent_at`` (when the broker took it), else now."""
    when = received.time.timestamp() if received.time is not None else sent_at
    return Event(
        received.name,
        received.payload,
        id=received.id or message_id,
        timestamp=_now() if when is None else when,
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
    when = _now() if delivery.sent_at is None else delivery.sent_at
    return Event(UNDECODABLE_EVENT, payload, id=delivery.message_id, timestamp=when)


def _text(body: Any) -> tuple[str, str]:
    if isinstance(body, str):
        return body, "utf-8"
    raw = body if isinstance(body, bytes) else bytes(body or b"")
    try:
        return raw.decode(), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
