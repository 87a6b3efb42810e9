"""Assembling the AsyncAPI 3.0 document: channels, operations, messages, schemas.

- The ``dispatch`` channel is the application itself: every event, as ``dispatch()`` hands
  it to handlers (one message per event name or handler pattern, its payload schema from
  the registry). Each local function is a ``receive`` operation on it, with the messages
  its pattern matches; any other handler object receives every event.
- Each forwarder is a channel (its queue, topic, stream...) and a ``send`` operation, with
  each event's message as it goes on the wire: the body format and the headers.
- Each consumer is a channel and the ``receive`` operations of its handlers.
- Each HTTP ingress is a channel at its path and the ``receive`` operations of its handlers,
  ``POST`` in their http binding, its verifier's kind as their security scheme.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..handlers.base import BaseEventHandler
from ..handlers.forwarder import Forwarder
from ..handlers.local import LocalHandler
from ..handlers.null import NullHandler
from ._channels import (
    Destination,
    channel_prefix,
    consumer_destination,
    forwarder_destination,
)
from ._events import EventEntry, Namer, collect_events, matches, qualified_name
from ._http import SecuritySchemes, ingress_destination
from ._ingresses import ServedIngress
from ._schemas import SchemaSet
from ._settings import Settings
from ._wire import WireFormat, body_schema, extra_attributes, format_of, headers_schema

__all__ = ["ASYNCAPI_VERSION", "DISPATCH_CHANNEL", "Settings", "build_document"]

ASYNCAPI_VERSION = "3.0.0"
DISPATCH_CHANNEL = "dispatch"
_DEFAULT_DESCRIPTION = (
    "The events this application dispatches: their payloads, the local functions that "
    "handle them, and where they are forwarded."
)
_DISPATCH_DESCRIPTION = (
    "Events dispatched in this application with `fastapi_events.dispatch()`, handled in "
    "process after the response by the local functions listed as its operations, and sent "
    "on by the forwarders (every event, whatever its name)."
)


def build_document(
    handlers: Sequence[BaseEventHandler],
    settings: Settings,
    ingresses: Sequence[ServedIngress] = (),
) -> dict[str, Any]:
    """The AsyncAPI document of ``handlers`` and ``ingresses`` with ``settings``."""
    receivers = [*settings.consumers, *(served.ingress for served in ingresses)]
    consumed = [pair for c in receivers for h in _handlers_of(c) for pair in _functions(h)]
    functions = [pair for handler in handlers for pair in _functions(handler)]
    patterns = [pattern for pattern, _ in functions + consumed]
    events = collect_events(settings.schema_registry(), settings.models, patterns)
    document = _Document(events, SchemaSet(e.model for e in events if e.model is not None))
    document.add_handlers(handlers)
    for consumer in settings.consumers:
        document.add_consumer(consumer)
    for served in ingresses:
        document.add_ingress(served)
    return document.render(settings)


def _functions(handler: object) -> list[tuple[str, Any]]:
    return list(handler.registrations()) if isinstance(handler, LocalHandler) else []


def _handlers_of(consumer: Any) -> list[object]:
    handlers = getattr(consumer, "handlers", None)
    if handlers is None:
        handler = getattr(consumer, "handler", None)
        return [] if handler is None else [handler]
    return list(handlers) if isinstance(handlers, Iterable) else []


class _Document:
    def __init__(self, events: list[EventEntry], schemas: SchemaSet) -> None:
        self.events = events
        self.schemas = schemas
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.security = SecuritySchemes()
        self._channel_ids, self._operation_ids, self._message_ids = Namer(), Namer(), Namer()
        self.message_ids = {entry.key: self._message_ids(entry.key) for entry in events}
        for entry in events:
            self.messages[self.message_ids[entry.key]] = self._event_message(entry)
        self.channels[self._channel_ids(DISPATCH_CHANNEL)] = {
            "address": None,
            "title": "dispatch()",
            "description": _DISPATCH_DESCRIPTION,
            "messages": self._event_refs(events),
        }

    def payload(self, entry: EventEntry) -> dict[str, Any]:
        if entry.model is not None:
            return dict(self.schemas.refs[entry.model])
        if entry.pattern:
            return {"description": f"Any payload: events matching `{entry.key}`."}
        return {"description": "Any JSON value: no payload schema is registered."}

    def _event_message(self, entry: EventEntry) -> dict[str, Any]:
        summary = (
            f"Any event whose name matches `{entry.key}`."
            if entry.pattern
            else f"The event `{entry.key}`."
        )
        return {"name": entry.key, "title": entry.key, "summary": summary, **self._body(entry)}

    def _body(self, entry: EventEntry) -> dict[str, Any]:
        return {"contentType": "application/json", "payload": self.payload(entry)}

    def _event_refs(self, events: Iterable[EventEntry]) -> dict[str, Any]:
        ids = [self.message_ids[entry.key] for entry in events]
        return {key: {"$ref": f"#/components/messages/{key}"} for key in ids}

    # --- handlers -------------------------------------------------------------------------

    def add_handlers(self, handlers: Sequence[BaseEventHandler]) -> None:
        for handler in handlers:
            if isinstance(handler, LocalHandler):
                self._add_functions(DISPATCH_CHANNEL, handler.registrations(), {})
            elif isinstance(handler, Forwarder):
                self._add_forwarder(handler)
            elif not isinstance(handler, NullHandler):
                self._add_receiver(DISPATCH_CHANNEL, handler, {})

    def _add_functions(
        self, channel: str, registrations: Iterable[tuple[str, Any]], fields: Mapping[str, Any]
    ) -> None:
        for pattern, function in registrations:
            name = qualified_name(function)
            keys = [e.key for e in self.events if matches(pattern, e.key)]
            self._operation(
                name.rsplit(".", 1)[-1],
                "receive",
                channel,
                keys,
                title=name,
                summary=f"Local function `{name}`, registered for `{pattern}`.",
                extra={
                    "x-fastapi-events-handler": name,
                    "x-fastapi-events-pattern": pattern,
                    **fields,
                },
            )

    def _add_receiver(self, channel: str, handler: object, fields: Mapping[str, Any]) -> None:
        name = qualified_name(handler)
        self._operation(
            type(handler).__name__,
            "receive",
            channel,
            [entry.key for entry in self.events],
            title=name,
            summary=f"Handler object `{name}`: receives every event.",
            extra={"x-fastapi-events-handler": name, **fields},
        )

    def _add_forwarder(self, forwarder: Forwarder) -> None:
        where = forwarder_destination(forwarder)
        wire = format_of(forwarder.serializer)
        extra = extra_attributes(forwarder)
        messages = {
            self.message_ids[entry.key]: self._wire_message(entry, where, wire, extra)
            for entry in self.events
        }
        channel = self._add_channel(where, messages)
        name = qualified_name(forwarder)
        self._operation(
            f"send.{channel}",
            "send",
            channel,
            [entry.key for entry in self.events],
            title=f"{type(forwarder).__name__} to {where.title}",
            summary=f"Forwarder `{name}` sends every event. {wire.label}",
            extra={"x-fastapi-events-handler": name, "x-fastapi-events-format": wire.kind},
            bindings=where.operation_bindings,
        )

    def _wire_message(
        self, entry: EventEntry, where: Destination, wire: WireFormat, extra: object
    ) -> dict[str, Any]:
        """``entry``'s message as the forwarder sends it: body, headers, bindings."""
        message: dict[str, Any] = {
            "name": entry.key,
            "title": entry.key,
            "summary": f"The event `{entry.key}` as {where.kind} messages carry it.",
            "description": wire.label,
            "contentType": wire.content_type,
            "payload": body_schema(wire, entry, self.payload(entry)),
        }
        headers = headers_schema(wire, where.system, entry, extra)
        if headers is not None:
            message["headers"] = headers
        if where.message_bindings:
            message["bindings"] = where.message_bindings
        return message

    def add_consumer(self, consumer: Any) -> None:
        self._add_receivers(consumer_destination(consumer), consumer, {})

    def add_ingress(self, served: ServedIngress) -> None:
        where = ingress_destination(served)
        fields: dict[str, Any] = {"bindings": where.operation_bindings}
        security = self.security.security(served.ingress.verifier)
        if security:
            fields["security"] = security
        self._add_receivers(where, served.ingress, fields)

    def _add_receivers(self, where: Destination, owner: Any, fields: Mapping[str, Any]) -> None:
        """A channel for ``owner`` (a consumer, an ingress) and its handlers' operations."""
        channel = self._add_channel(where, self._event_refs(self.events))
        handlers = _handlers_of(owner)
        for handler in handlers:
            if isinstance(handler, LocalHandler):
                self._add_functions(channel, handler.registrations(), fields)
            else:
                self._add_receiver(channel, handler, fields)
        if not handlers:
            self._add_receiver(channel, owner, fields)

    def _add_channel(self, where: Destination, messages: dict[str, Any]) -> str:
        channel_id = self._channel_ids(f"{channel_prefix(where.system)}.{where.name}")
        channel: dict[str, Any] = {
            "address": where.address,
            "title": where.title,
            "description": where.description(),
            "messages": messages,
        }
        if where.parameters:
            channel["parameters"] = where.parameters
        if where.bindings:
            channel["bindings"] = where.bindings
        if where.routed_by is not None:
            channel["x-fastapi-events-routed-by"] = where.routed_by
        channel.update(where.extensions)
        self.channels[channel_id] = channel
        return channel_id

    def _operation(
        self,
        name: str,
        action: str,
        channel: str,
        keys: list[str],
        *,
        title: str,
        summary: str,
        extra: dict[str, Any],
        bindings: dict[str, Any] | None = None,
    ) -> None:
        operation: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": title,
            "summary": summary,
            "messages": [
                {"$ref": f"#/channels/{channel}/messages/{self.message_ids[key]}"} for key in keys
            ],
        }
        if bindings:
            operation["bindings"] = bindings
        self.operations[self._operation_ids(name)] = {**operation, **extra}

    # --- the whole ------------------------------------------------------------------------

    def render(self, settings: Settings) -> dict[str, Any]:
        info = {
            "title": settings.title,
            "version": settings.version,
            "description": settings.description or _DEFAULT_DESCRIPTION,
        }
        document: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION, "info": info}
        if settings.servers:
            document["servers"] = dict(settings.servers)
        document["defaultContentType"] = "application/json"
        document["channels"] = self.channels
        document["operations"] = self.operations
        components = {"messages": self.messages, "schemas": self.schemas.components}
        if self.security.components:
            components["securitySchemes"] = self.security.components
        document["components"] = components
        return document
