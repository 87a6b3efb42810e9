"""The event a handler receives: a name, a payload and metadata captured at dispatch."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from ._redact import describe

__all__ = ["Event", "EventName", "normalize_event_name"]

EventName = str | Enum


def normalize_event_name(name: EventName) -> str:
    """Return the string an event name is matched by: a str as is, an Enum by its value."""
    if type(name) is str:
        return name
    if isinstance(name, Enum):
        value = name.value
        return value if isinstance(value, str) else str(value)
    if isinstance(name, str):
        return str.__str__(name)
    from .errors import InvalidEventNameError

    raise InvalidEventNameError(
        f"event name must be a str or an Enum member, got {describe(name)}; "
        f"pass e.g. dispatch('user.created', payload)"
    )


class Event:
    """One dispatched event.

    It unpacks and indexes like the ``(name, payload)`` tuple of fastapi-events 0.12
    (``name, payload = event``; ``event[0]``, ``event[1]``) and compares equal to that
    tuple, and it carries metadata captured at dispatch.

    Attributes:
        name: the event name as dispatched (a ``str`` or an ``Enum`` member).
        payload: the payload handlers see (validated/dumped, lazy payloads evaluated).
        key: the name as a string, used for pattern matching (an Enum's value).
        trace_context: W3C trace headers captured at dispatch, or ``None``.
        correlation_id: an optional correlation id captured at dispatch.

    .. versionadded:: 1.0
       The metadata; 0.12 passed a plain 2-tuple.
    """

    __slots__ = ("_id", "_ts", "correlation_id", "key", "name", "payload", "trace_context")

    def __init__(
        self,
        name: EventName,
        payload: Any = None,
        key: str | None = None,
        *,
        id: str | None = None,
        timestamp: float | None = None,
        trace_context: Mapping[str, str] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.name = name
        self.payload = payload
        self.key = normalize_event_name(name) if key is None else key
        self._id = id
        self._ts = time.time() if timestamp is None else timestamp
        self.trace_context = trace_context
        self.correlation_id = correlation_id

    @property
    def id(self) -> str:
        """A unique id (a UUID4 string), stable for the life of the event."""
        if self._id is None:
            self._id = str(uuid.uuid4())
        return self._id

    @property
    def timestamp(self) -> datetime:
        """When the event was dispatched, as an aware UTC datetime."""
        return datetime.fromtimestamp(self._ts, tz=timezone.utc)

    @property
    def unix_time(self) -> float:
        """When the event was dispatched, in seconds since the epoch."""
        return self._ts

    def __iter__(self) -> Iterator[Any]:
        yield self.name
        yield self.payload

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Any:
        return (self.name, self.payload)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Event):
            return (self.name, self.payload, self.id) == (other.name, other.payload, other.id)
        if isinstance(other, tuple):
            return (self.name, self.payload) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable payloads: unhashable, like a list

    def __repr__(self) -> str:
        return f"Event(name={self.name!r}, payload={self.payload!r}, id={self.id!r})"
