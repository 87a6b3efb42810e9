"""The names and attributes of fastapi_events' spans, made once per event name and handler.

Imported only when opentelemetry is (by :mod:`fastapi_events._otel_impl`). The per-event
path reads these caches with one dict lookup and copies a ready attribute dict only for a
span that records; the caches are bounded, as event names can come from user input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ._event import Event
from ._redact import describe_handler
from .otel.attributes import SpanAttributes

__all__ = ["MESSAGE_ID", "ProcessNames", "SpanNames", "batch_attributes"]

MESSAGE_ID = "messaging.message.id"
_SYSTEM = "fastapi_events"
#: Bound of each cache: event names can come from user input.
_MAX_CACHED = 2048


class ProcessNames(NamedTuple):
    """What the ``process`` spans of one (event name, handler) share."""

    handler: object
    handler_name: str
    span_name: str
    #: The span attributes, the message id aside (copied per span, never changed).
    attributes: dict[str, Any]


class SpanNames:
    """Bounded caches of span names and attributes. The per-event path reads ``creates``
    (event name -> ``create`` span name and attributes) and ``processes`` ((event name,
    ``id(handler)``) -> :class:`ProcessNames`) itself, and calls the methods on a miss."""

    __slots__ = ("_handlers", "creates", "processes")

    def __init__(self) -> None:
        self._handlers: dict[int, tuple[object, str]] = {}  # id(handler) -> (handler, name)
        self.creates: dict[str, tuple[str, dict[str, Any]]] = {}
        self.processes: dict[tuple[str, int], ProcessNames] = {}

    def handler_name(self, handler: object) -> str:
        """The dotted path of ``handler`` (the ``fastapi_events.handler`` attribute)."""
        found = self._handlers.get(id(handler))
        if found is not None and found[0] is handler:
            return found[1]
        name = describe_handler(handler)
        _bound(self._handlers)[id(handler)] = (handler, name)
        return name

    def create(self, key: str) -> tuple[str, dict[str, Any]]:
        """Make and keep the ``create`` span name and attributes for event name ``key``."""
        found = _bound(self.creates)[key] = (f"create {key}", _base_attributes(key, "create"))
        return found

    def process(self, key: str, handler: object) -> ProcessNames:
        """Make and keep what the ``process`` spans of ``handler`` for ``key`` share."""
        name = self.handler_name(handler)
        attributes = {**_base_attributes(key, "process"), SpanAttributes.HANDLER: name}
        found = ProcessNames(handler, name, f"process {key}", attributes)
        _bound(self.processes)[key, id(handler)] = found
        return found


def batch_attributes(attributes: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """The attributes of a forwarder's ``send`` span over ``events``."""
    result = {**attributes, "messaging.operation.type": "send", "messaging.operation.name": "send"}
    if len(events) == 1:
        result[MESSAGE_ID] = events[0].id
    else:
        result["messaging.batch.message_count"] = len(events)
    return result


def _base_attributes(key: str, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": _SYSTEM,
        "messaging.destination.name": key,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }


def _bound(cache: dict[Any, Any]) -> dict[Any, Any]:
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    return cache
