"""A delivery back into its event (``consumers/_events.py``): the fast path for the
default ``["name", payload]`` body gives exactly what ``decode()`` + ``event_from`` give."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fastapi_events._received import STREAM_BODY_FIELD
from fastapi_events.consumers import Delivery
from fastapi_events.consumers._events import event_from, event_of
from fastapi_events.errors import SerializationError
from fastapi_events.serialization import decode

_ARRAY = json.dumps(["order.paid", {"order": 7}]).encode()
_TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
_STRUCTURED = json.dumps(
    {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/orders",
        "type": "order.paid",
        "time": "2025-01-02T03:04:05.123456Z",
        "traceparent": _TRACE,
        "data": {"order": 7},
    }
).encode()


def _entry(body: bytes, **attributes: str) -> dict[bytes, bytes]:
    """A Redis stream entry's fields as redis-py returns them (bytes)."""
    fields = {STREAM_BODY_FIELD: body, **attributes}
    return {
        key.encode(): value if isinstance(value, bytes) else value.encode()
        for key, value in fields.items()
    }


MESSAGES: dict[str, Any] = {
    "all metadata": _entry(
        _ARRAY,
        event_id="e-1",
        event_time="1764910000.123456",
        correlation_id="c-1",
        traceparent=_TRACE,
        tracestate="k=v",
    ),
    "no metadata": _entry(_ARRAY),
    "a time that is no number": _entry(_ARRAY, event_id="e-1", event_time="soon"),
    "an empty event id": _entry(_ARRAY, event_id=""),
    "the CloudEvents correlation id": _entry(_ARRAY, ce_correlationid="c-2"),
    "an empty tracestate": _entry(_ARRAY, traceparent=_TRACE, tracestate=""),
    "a tracestate alone": _entry(_ARRAY, tracestate="k=v"),
    "a body as str": {"body": _ARRAY.decode(), "event_id": "e-3"},
    "a structured CloudEvent": _entry(_STRUCTURED, correlation_id="c-3"),
    "a binary CloudEvent": _entry(
        json.dumps({"order": 7}).encode(),
        ce_specversion="1.0",
        ce_id="ce-2",
        ce_type="order.paid",
        ce_source="/orders",
        ce_time="2025-01-02T03:04:05Z",
    ),
}


def _fields(event: Any) -> tuple[Any, ...]:
    return (
        event.name,
        event.payload,
        event.key,
        event.id,
        event.unix_time,
        event.trace_context,
        event.correlation_id,
    )


@pytest.mark.parametrize("message", MESSAGES.values(), ids=list(MESSAGES))
def test_event_of_gives_what_decode_gives(message: Any) -> None:
    """Same name, payload, key, id, timestamp, trace context and correlation id as
    ``event_from(decode(message))``."""
    delivery = Delivery(message, "1764910001000-0", sent_at=1764910001.0)
    expected = event_from(decode(message), delivery.message_id, delivery.sent_at)
    assert _fields(event_of(delivery)) == _fields(expected)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"a": 1}', b'["a", 1, 2]', b"[1, {}]", b"\xff\xfe", b""],
    ids=["not JSON", "an object", "three items", "a name that is no str", "bad bytes", "empty"],
)
def test_event_of_refuses_what_decode_refuses_with_the_same_message(body: bytes) -> None:
    """A body that is not an event raises decode()'s SerializationError, word for word."""
    message = _entry(body, event_id="e-1")
    with pytest.raises(SerializationError) as decoded:
        decode(message)
    with pytest.raises(SerializationError) as of:
        event_of(Delivery(message, "m-1"))
    assert str(of.value) == str(decoded.value)


@pytest.mark.parametrize("sent_at", [None, 1764910001.5])
def test_an_event_without_a_time_takes_the_brokers_else_now(sent_at: float | None) -> None:
    """No ``event_time``: the broker's time when it has one, else the time of decoding."""
    import time

    before = time.time()
    event = event_of(Delivery(_entry(_ARRAY), "m-1", sent_at=sent_at))
    if sent_at is not None:
        assert event.unix_time == sent_at
    else:
        assert before <= event.unix_time <= time.time()


def _seconds_via_datetime(value: str | None) -> float | None:
    from fastapi_events.serialization import _attribute_time

    time = _attribute_time(value)
    return None if time is None else time.timestamp()


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "soon",
        "1764910000.123456",
        "1764910000.999999",
        "0.000001",
        "0.000000",
        "-0.000000",
        "-1.500000",
        "1764910000.1234567",
        "1764910000.12345 ",
        "1_764_910_000.123456",
        "8589934591.999999",
        "8589934592.000001",
        "99999999999.999999",
        "1e9.000000",
        "nan.000000",
        "1764910000",
        "1764910000.5",
    ],
)
def test_event_time_gives_the_seconds_of_decodes_datetime(value: str | None) -> None:
    """``event_time`` read without the datetime gives exactly what the datetime gives."""
    from fastapi_events.consumers._events import _event_seconds

    assert _event_seconds(value) == _seconds_via_datetime(value)


def test_event_time_with_6_decimals_is_exact_over_the_years() -> None:
    """Forwarders' ``event_time`` values (6 decimals) from 1970 to 2241 read back as the
    datetime gives them (a random sample)."""
    import random

    from fastapi_events.consumers._events import _event_seconds

    rng = random.Random(7)
    for _ in range(100_000):
        value = f"{rng.uniform(0, 8_589_934_591):.6f}"
        assert _event_seconds(value) == _seconds_via_datetime(value), value


@pytest.mark.parametrize(
    "body",
    [b'["a", 1]', b"[", b"[\x00", b'\xef\xbb\xbf["a", 1]', '["a", 1]'.encode("utf-16"), b"[1]  "],
)
def test_bodies_parse_as_json_loads_parses_them(body: bytes) -> None:
    """The shortcut for UTF-8 array bodies gives what json.loads gives, errors included."""
    from fastapi_events.consumers._events import _load_json

    try:
        expected: Any = json.loads(body)
    except ValueError as exc:
        expected = (type(exc), str(exc))
    try:
        got: Any = _load_json(body)
    except ValueError as exc:
        got = (type(exc), str(exc))
    assert got == expected
