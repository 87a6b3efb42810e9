"""OpenTelemetry spans and metrics for one pipeline (imported only when opentelemetry is).

Spans follow the messaging semantic conventions: a PRODUCER ``create {event}`` span per
dispatch, whose context is captured in ``Event.trace_context`` (never in the payload); a
CONSUMER ``process {event}`` span per handler function run, linked to the dispatch span
(or its child with ``FASTAPI_EVENTS_USE_SPAN_LINKING=0``); a PRODUCER ``send {destination}``
span per forwarder batch, linked to every event's dispatch span. With ``spans="one"`` no
dispatch span is recorded: the event keeps the context of the span current at dispatch
(the request's, say), and the ``process`` span links to that.

Nothing is done while no SDK is configured (the global providers are still the API's
proxies) and no attribute is built for a span that is not recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanKind, Status, StatusCode

from ._context import current_batch_span
from ._env import EnvFlag
from ._event import Event
from ._otel_metrics import Instruments, event_names_in_metrics
from ._otel_providers import (
    any_global_provider_set,
    global_meter_provider,
    global_tracer_provider,
    usable_meter_provider,
)
from ._otel_spans import (
    Measured,
    links_to,
    origin_of,
    parse_traceparent,
    remember_origin,
    trace_context_of,
)
from ._redact import describe_handler
from ._telemetry import Telemetry
from .constants import FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR
from .otel.attributes import SpanAttributes

__all__ = ["OtelTelemetry", "parse_traceparent", "trace_context_of"]

_use_links = EnvFlag(FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR, default=True)

_SYSTEM = "fastapi_events"
_SCOPE = "fastapi_events"
_MESSAGE_ID = "messaging.message.id"
#: Bound of the per-(event name, handler) caches: names can come from user input.
_MAX_CACHED = 2048
_NO_ATTRIBUTES: dict[str, Any] = {}
_PRODUCER, _CONSUMER = SpanKind.PRODUCER, SpanKind.CONSUMER
_get_current_span = trace.get_current_span


def _version() -> str:
    from ._version import __version__

    return __version__


class OtelTelemetry(Telemetry):
    """Spans and metrics through explicit providers, or the global ones once configured.

    ``spans="two"`` (default) records a dispatch and a process span per event;
    ``spans="one"`` only the process span (linked to the span current at dispatch).
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        spans: Literal["two", "one"] = "two",
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._dispatch_spans = spans == "two"
        # Once a provider is there it stays: global providers can be set only once.
        self._enabled = tracer_provider is not None or meter_provider is not None
        self._tracer: Any = None
        self._instruments: Instruments | None = None
        self._names: dict[int, tuple[object, str]] = {}  # id(handler) -> (handler, name)
        self._attributes: dict[tuple[str, str], dict[str, Any]] = {}

    # --- providers: explicit, or the global ones once an SDK replaced the proxies ---------

    def enabled(self) -> bool:
        """True once a provider was passed or a global one was set (two attribute reads);
        then the tracer and the instruments are looked for (per batch until found), so the
        per-event calls only read them."""
        if not self._enabled:
            if not any_global_provider_set():
                return False  # the common "installed, not configured" case
            tracing = global_tracer_provider() is not None
            self._enabled = tracing or global_meter_provider() is not None
            if not self._enabled:
                return False
        if self._tracer is None:
            self.tracer()
        if self._instruments is None:
            self.instruments()
        return True

    def tracer(self) -> Any:
        """The tracer, or ``None`` while there is no SDK tracer provider (kept once found:
        an explicit provider never changes, and the global one can be set only once)."""
        tracer = self._tracer
        if tracer is None:
            provider = self._tracer_provider or global_tracer_provider()
            if provider is None or isinstance(
                provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
            ):
                return None
            tracer = self._tracer = provider.get_tracer(_SCOPE, _version())
        return tracer

    def instruments(self) -> Instruments | None:
        """The metric instruments, or ``None`` while there is no SDK meter provider (kept
        once found, as the tracer)."""
        instruments = self._instruments
        if instruments is None:
            provider = self._meter_provider or global_meter_provider()
            if not usable_meter_provider(provider):
                return None
            instruments = self._instruments = Instruments(provider.get_meter(_SCOPE, _version()))
        return instruments

    # --- the seam ------------------------------------------------------------------------

    def on_dispatch(self, event: Event) -> None:
        """Record the dispatch span (or, with one span per event, find the current one);
        keep its context on the event."""
        instruments = self._instruments
        if instruments is not None:
            instruments.dispatched.add(1, _event_attributes(event))
        tracer = self._tracer
        if tracer is None:
            return
        if self._dispatch_spans:
            span = tracer.start_span(f"create {event.key}", kind=_PRODUCER)
            if span.is_recording():
                span.set_attributes(self._message_attributes(event, "create", ""))
            span.end()
        else:
            span = _get_current_span()
        context = span.get_span_context()
        if context.is_valid:
            remember_origin(event, context)

    def handler_span(self, event: Event, handler: object) -> AbstractContextManager[Any]:
        """A CONSUMER span around one handler function run, linked to its dispatch."""
        name = self._handler_name(handler)
        instruments = self._instruments
        metrics = _NO_ATTRIBUTES
        if instruments is not None:
            metrics = {**_event_attributes(event), SpanAttributes.HANDLER: name}
        tracer = self._tracer
        if tracer is None:
            return Measured(None, instruments, metrics, 1)
        parent = origin_of(event)
        if parent is not None and not _use_links():
            context = trace.set_span_in_context(NonRecordingSpan(parent))
            span = tracer.start_span(f"process {event.key}", context=context, kind=_CONSUMER)
        else:
            links = None if parent is None else links_to((event,))
            span = tracer.start_span(f"process {event.key}", kind=_CONSUMER, links=links)
        if span.is_recording():
            span.set_attributes(self._message_attributes(event, "process", name))
        return Measured(span, instruments, metrics, 1)

    def batch_span(
        self, events: Sequence[Event], handler: object, *, system: str, destination: str
    ) -> AbstractContextManager[Any]:
        """A PRODUCER ``send`` span around one forwarder batch, linked to each dispatch."""
        attributes = {
            "messaging.system": system,
            "messaging.destination.name": destination,
            SpanAttributes.HANDLER: self._handler_name(handler),
        }
        instruments, tracer = self._instruments, self._tracer
        span = None
        if tracer is not None:
            kind = _PRODUCER
            span = tracer.start_span(f"send {destination}", kind=kind, links=links_to(events))
            if span.is_recording():
                span.set_attributes(_batch_attributes(attributes, events))
        return Measured(span, instruments, attributes, len(events), batch=True)

    def on_failure(self, event: Event, handler: object, exc: BaseException) -> None:
        """Count the failure; mark the forwarder batch span it happened in."""
        instruments = self._instruments
        if instruments is not None:
            instruments.failed.add(
                1,
                {
                    **_event_attributes(event),
                    SpanAttributes.HANDLER: self._handler_name(handler),
                    "error.type": type(exc).__qualname__,
                },
            )
        span = current_batch_span()
        if span is not None and span.is_recording():
            span.record_exception(exc, {_MESSAGE_ID: event.id})
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__qualname__}: {exc}"))

    def on_lost(self, events: Sequence[Event], error: BaseException) -> None:
        """Count events that no handler will ever see (shutdown timeout, cancellation)."""
        instruments = self._instruments
        if instruments is not None:
            instruments.dropped.add(len(events), {"error.type": type(error).__qualname__})

    # --- per-event work, cached per handler and per (event name, operation) ----------------

    def _handler_name(self, handler: object) -> str:
        found = self._names.get(id(handler))
        if found is not None and found[0] is handler:
            return found[1]
        name = describe_handler(handler)
        if len(self._names) >= _MAX_CACHED:
            self._names.clear()
        self._names[id(handler)] = (handler, name)
        return name

    def _message_attributes(self, event: Event, operation: str, handler: str) -> dict[str, Any]:
        key = event.key
        base = self._attributes.get((key, handler or operation))
        if base is None:
            base = {
                "messaging.system": _SYSTEM,
                "messaging.destination.name": key,
                "messaging.operation.type": operation,
                "messaging.operation.name": operation,
            }
            if handler:
                base[SpanAttributes.HANDLER] = handler
            if len(self._attributes) >= _MAX_CACHED:
                self._attributes.clear()
            self._attributes[(key, handler or operation)] = base
        attributes = base.copy()
        attributes[_MESSAGE_ID] = event.id
        return attributes


def _batch_attributes(attributes: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    result = {**attributes, "messaging.operation.type": "send", "messaging.operation.name": "send"}
    if len(events) == 1:
        result[_MESSAGE_ID] = events[0].id
    else:
        result["messaging.batch.message_count"] = len(events)
    return result


def _event_attributes(event: Event) -> dict[str, Any]:
    return {"fastapi_events.event": event.key} if event_names_in_metrics() else {}
