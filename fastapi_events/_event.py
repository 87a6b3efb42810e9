"""The event a handler receives: a name, a payload and metadata captured at dispatch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from enum import Enum
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ._redact import capped_repr, describe

__all__ = ["Event", "EventName", "normalize_event_name", "with_payload"]

EventName = str | Enum

#: The most characters of the name and of the payload an Event's repr shows.
_REPR_LIMIT = 120

# Event ids are UUID4 strings; ``str(uuid.uuid4())`` costs a system call and a UUID object
# per id (a few µs: the largest part of an event's cost once its id is asked for, as every
# forwarder and traced span does). Random hex from one ``os.urandom`` call per 256 ids,
# cleared in a forked child so parent and child never hand out the same bytes.
_random_hex: list[str] = []
_VARIANT = "89ab" * 4
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_random_hex.clear)


def _new_id() -> str:
    """A new random UUID (version 4, RFC 4122 variant) as a lowercase string."""
    try:
        h = _random_hex.pop()  # atomic: threads never get the same bytes
    except IndexError:
        block = os.urandom(4096).hex()
        _random_hex.extend([block[i : i + 32] for i in range(0, 8192, 32)])
        h = _random_hex.pop()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


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


class Event(tuple[EventName, Any]):
    """One dispatched event: the ``(name, payload)`` tuple of fastapi-events 0.12, plus metadata.

    It is a real ``tuple`` of two items, so code written for 0.12 keeps working:
    ``name, payload = event``, ``event[0]``, ``event[-1]``, slicing (a plain ``tuple``),
    ``len(event) == 2``, ``json.dumps(event)`` (``'["name", payload]'``) and
    ``event == ("name", payload)``. Equality and hashing are the tuple's: two events with
    equal names and payloads are equal whatever their ids (compare ``.id`` to tell two
    dispatches apart), and hashing raises ``TypeError`` for an unhashable payload (a dict),
    as it would for the plain tuple. The two items are read-only, like a tuple's.

    The metadata lives beside the items, in the instance ``__dict__`` (a tuple subclass
    cannot have ``__slots__``); it survives ``pickle`` and ``copy``. The ``repr`` shows
    the name, the payload (each cut to a few hundred characters at most) and the id.

    Attributes:
        name: the event name as dispatched (a ``str`` or an ``Enum`` member); ``event[0]``.
        payload: the payload handlers see (validated/dumped, lazy payloads evaluated);
            ``event[1]``.
        key: the name as a string, used for pattern matching (an Enum's value).
        trace_context: W3C trace headers captured at dispatch, or ``None``; settable.
        correlation_id: an optional correlation id captured at dispatch; settable.

    .. versionadded:: 1.0
       The metadata; 0.12 passed a plain 2-tuple.
    """

    # Defaults on the class: an instance stores only what differs (at dispatch: key, _ts).
    _id: str | None = None
    _trace_context: Mapping[str, str] | None = None
    #: ``(span context, its headers function)`` from telemetry at dispatch: the headers are
    #: made at the first read (a forwarder's), and the handler span uses the object itself.
    _trace_origin: tuple[Any, Callable[[Any], Mapping[str, str]]] | None = None
    correlation_id: str | None = None
    key: str
    _ts: float

    if TYPE_CHECKING:

        @property
        def name(self) -> EventName:
            """The event name as dispatched."""

        @property
        def payload(self) -> Any:
            """The payload."""

    else:
        name = property(itemgetter(0), doc="The event name as dispatched (``event[0]``).")
        payload = property(itemgetter(1), doc="The payload handlers see (``event[1]``).")

    @property
    def trace_context(self) -> Mapping[str, str] | None:
        """W3C trace headers (``traceparent``, ``tracestate``) captured at dispatch, or
        ``None``; settable."""
        found = self._trace_context
        if found is None and self._trace_origin is not None:
            context, headers_of = self._trace_origin
            found = self.__dict__.setdefault("_trace_context", headers_of(context))
        return found

    @trace_context.setter
    def trace_context(self, value: Mapping[str, str] | None) -> None:
        self._trace_context = value
        self.__dict__.pop("_trace_origin", None)  # what was captured no longer applies

    def __new__(
        cls,
        name: EventName,
        payload: Any = None,
        key: str | None = None,
        *,
        id: str | None = None,
        timestamp: float | None = None,
        trace_context: Mapping[str, str] | None = None,
        correlation_id: str | None = None,
    ) -> Event:
        self = tuple.__new__(cls, (name, payload))
        self.key = normalize_event_name(name) if key is None else key
        self._ts = time.time() if timestamp is None else timestamp
        if id is not None:
            self._id = id
        if trace_context is not None:
            self.trace_context = trace_context
        if correlation_id is not None:
            self.correlation_id = correlation_id
        return self

    @property
    def id(self) -> str:
        """A unique id (a UUID4 string), stable for the life of the event."""
        found = self._id
        if found is None:
            # Atomic: a sync handler's thread and a forwarder on the loop may ask at once
            # for the first time; both must get the same id.
            found = self.__dict__.setdefault("_id", _new_id())
        return found

    @property
    def timestamp(self) -> datetime:
        """When the event was dispatched, as an aware UTC datetime."""
        return datetime.fromtimestamp(self._ts, tz=timezone.utc)

    @property
    def unix_time(self) -> float:
        """When the event was dispatched, in seconds since the epoch."""
        return self._ts

    def __reduce__(self) -> tuple[Any, ...]:
        self.id  # noqa: B018 - fix the id before it is copied
        self.trace_context  # noqa: B018 - and the trace headers: the span context stays
        state = dict(self.__dict__)
        state.pop("_trace_origin", None)
        return (type(self), (self[0], self[1]), state)

    def __repr__(self) -> str:
        name, payload = capped_repr(self[0], _REPR_LIMIT), capped_repr(self[1], _REPR_LIMIT)
        return f"Event(name={name}, payload={payload}, id={self.id!r})"


def with_payload(event: Event, payload: Any) -> Event:
    """A copy of ``event`` with another payload and the same metadata, id included."""
    event.id  # noqa: B018 - fix the id so both share it
    twin = tuple.__new__(type(event), (event[0], payload))
    twin.__dict__.update(event.__dict__)
    return twin
