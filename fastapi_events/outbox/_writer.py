"""What ``Outbox.add`` writes: the event ``dispatch()`` would build, as one outbox row."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .._context import current_buffer, current_telemetry
from .._event import Event, EventName, normalize_event_name
from .._json import dumps
from .._payload import is_pydantic_model, prepare_payload
from .._redact import capped_repr
from ..dispatcher import _name_and_payload
from ..errors import SerializationError
from ..registry.base import BaseEventPayloadSchemaRegistry
from ..registry.payload_schema import registry as default_registry

__all__ = ["PENDING", "build_event", "insert_statement", "row_values"]

#: The status of a row waiting to be published (see ``_table`` for the others).
PENDING = "pending"


def build_event(
    first: EventName | Any,
    payload: Any,
    event_name: EventName | None,
    registry: BaseEventPayloadSchemaRegistry | None,
    validate: bool,
    dump: bool,
    dump_args: Mapping[str, Any] | None,
) -> Event:
    """The event ``dispatch()`` builds for these arguments: validated payload, id,
    timestamp, the current request's correlation id and trace context."""
    name, payload = _name_and_payload(first, payload, event_name)
    key = normalize_event_name(name)
    schema = (registry or default_registry).lookup(key) if validate else None
    if schema is not None and payload is None:
        payload = {}  # as dispatch(): no payload is the empty one
    if callable(payload) and not is_pydantic_model(payload):
        raise SerializationError(
            f"outbox payload for event {capped_repr(key)} is a "
            f"{type(payload).__name__}: the row is written now, in your transaction, so "
            "pass the value (lazy payloads are for dispatch())"
        )
    payload = prepare_payload(payload, schema, dump, dict(dump_args) if dump_args else None)
    buffer = current_buffer(None)
    correlation_id = None if buffer is None else buffer.correlation_id
    event = Event(name, payload, key, correlation_id=correlation_id)
    telemetry = buffer.pipeline.telemetry if buffer is not None else current_telemetry()
    if telemetry is not None:
        telemetry.on_dispatch(event)  # the PRODUCER span; its context goes in the row
    return event


def row_values(event: Event) -> dict[str, Any]:
    """The column values of ``event``'s row; the payload encoded with the library's JSON
    encoder (pydantic models, datetimes, UUIDs, Decimals...).

    Raises:
        SerializationError: the payload cannot be encoded; the message names the type
            and where it is, never the value.
    """
    try:
        payload = json.loads(dumps(event.payload))
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"outbox payload for event {capped_repr(event.key)} cannot be encoded as JSON: {exc}"
        ) from None
    trace = event.trace_context
    return {
        "event_id": event.id,
        "name": event.key,
        "payload": payload,
        "timestamp": event.timestamp,
        "correlation_id": event.correlation_id,
        "trace_context": dict(trace) if trace else None,
        "attempts": 0,
        "next_attempt_at": None,  # due at once, whatever the relay's clock says
        "status": PENDING,
    }


def insert_statement(table: sa.Table, values: dict[str, Any], channel: str | None) -> sa.Executable:
    """INSERT the row; with a ``channel`` (PostgreSQL) the same statement also NOTIFYs it,
    which PostgreSQL delivers at COMMIT, once per transaction and channel."""
    insert = sa.insert(table).values(values)
    if channel is None:
        return insert
    row = insert.returning(table.c.id).cte("outbox_row")
    return sa.select(sa.func.pg_notify(channel, "")).select_from(row)
