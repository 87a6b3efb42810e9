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
from opentelemetry.context import Context, get_current
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanKind,
    Status,
    StatusCode,
    set_span_in_context,
)

from ._context import current_batch_span
from ._env import EnvFlag
from ._event import Event
from ._otel_metrics import Instruments, event_names_in_metrics
from ._otel_names import MESSAGE_ID, ProcessNames, SpanNames, batch_attributes
from ._otel_providers import (
    any_global_provider_set,
    global_meter_provider,
    global_tracer_provider,
    usable_meter_provider,
)
from ._otel_spans import (
    InSpan,
    Measured,
    links_to,
    origin_of,
    parse_traceparent,
    remember_origin,
    trace_context_of,
)
from ._telemetry import Telemetry
from .constants import FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR
from .otel.attributes import SpanAttributes

__all__ = ["OtelTelemetry", "parse_traceparent", "trace_context_of"]

_use_links = EnvFlag(FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR, default=True)
_ENVIRON, _LINKING_KEY = _use_links.presence()

_SCOPE = "fastapi_events"
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
        self._names = SpanNames()

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
            name, base = self._names.creates.get(event.key) or self._names.create(event.key)
            span = tracer.start_span(name, get_current(), kind=_PRODUCER)
            if span.is_recording():
                span.set_attributes(self._message_attributes(base, event))
            span.end()
        else:
            span = _get_current_span()
        context = span.get_span_context()
        if context.is_valid:
            remember_origin(event, context)

    def handler_span(self, event: Event, handler: object) -> AbstractContextManager[Any]:
        """A CONSUMER span around one handler function run, linked to its dispatch (enter
        it at once: it becomes a child of the context current when this is called)."""
        process = self._names.processes.get((event.key, id(handler)))
        if process is None or process.handler is not handler:
            process = self._names.process(event.key, handler)
        instruments, tracer = self._instruments, self._tracer
        if instruments is None and tracer is not None:
            context = get_current()
            return InSpan(self._process_span(tracer, event, process, context), context)
        metrics = _NO_ATTRIBUTES
        if instruments is not None:
            metrics = {**_event_attributes(event), SpanAttributes.HANDLER: process.handler_name}
        if tracer is None:
            return Measured(None, instruments, metrics, 1)
        context = get_current()
        span = self._process_span(tracer, event, process, context)
        return Measured(span, instruments, metrics, 1, context=context)

    def batch_span(
        self, events: Sequence[Event], handler: object, *, system: str, destination: str
    ) -> AbstractContextManager[Any]:
        """A PRODUCER ``send`` span around one forwarder batch, linked to each dispatch."""
        attributes = {
            "messaging.system": system,
            "messaging.destination.name": destination,
            SpanAttributes.HANDLER: self._names.handler_name(handler),
        }
        instruments, tracer = self._instruments, self._tracer
        span = None
        if tracer is not None:
            kind = _PRODUCER
            span = tracer.start_span(f"send {destination}", kind=kind, links=links_to(events))
            if span.is_recording():
                span.set_attributes(batch_attributes(attributes, events))
        return Measured(span, instruments, attributes, len(events), batch=True)

    def on_failure(self, event: Event, handler: object, exc: BaseException) -> None:
        """Count the failure; mark the forwarder batch span it happened in."""
        instruments = self._instruments
        if instruments is not None:
            instruments.failed.add(
                1,
                {
                    **_event_attributes(event),
                    SpanAttributes.HANDLER: self._names.handler_name(handler),
                    "error.type": type(exc).__qualname__,
                },
            )
        span = current_batch_span()
        if span is not None and span.is_recording():
            span.record_exception(exc, {MESSAGE_ID: event.id})
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__qualname__}: {exc}"))

    def on_lost(self, events: Sequence[Event], error: BaseException) -> None:
        """Count events that no handler will ever see (shutdown timeout, cancellation)."""
        instruments = self._instruments
        if instruments is not None:
            instruments.dropped.add(len(events), {"error.type": type(error).__qualname__})

    def _process_span(
        self, tracer: Any, event: Event, process: ProcessNames, context: Context
    ) -> Any:
        """Start the ``process`` span of ``event`` in ``context``: linked to the dispatch
        span, or its child with ``FASTAPI_EVENTS_USE_SPAN_LINKING=0``."""
        parent = origin_of(event)
        if parent is None:
            span = tracer.start_span(process.span_name, context, kind=_CONSUMER)
        elif _LINKING_KEY not in _ENVIRON or _use_links():  # unset: no Python frame
            links = [Link(parent)]
            span = tracer.start_span(process.span_name, context, kind=_CONSUMER, links=links)
        else:
            context = set_span_in_context(NonRecordingSpan(parent), context)
            span = tracer.start_span(process.span_name, context, kind=_CONSUMER)
        if span.is_recording():
            span.set_attributes(self._message_attributes(process.attributes, event))
        return span

    @staticmethod
    def _message_attributes(base: dict[str, Any], event: Event) -> dict[str, Any]:
        """The attributes of one recording span: the cached ``base`` and the message id."""
        attributes = base.copy()
        attributes[MESSAGE_ID] = event.id
        return attributes


def _event_attributes(event: Event) -> dict[str, Any]:
    return {"fastapi_events.event": event.key} if event_names_in_metrics() else {}
