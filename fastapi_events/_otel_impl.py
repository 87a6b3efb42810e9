"""OpenTelemetry spans and metrics for one pipeline (imported only when opentelemetry is).

Spans follow the messaging semantic conventions: a PRODUCER ``create {event}`` span per
dispatch, whose context is captured in ``Event.trace_context`` (never in the payload); a
CONSUMER ``process {event}`` span per handler function run, linked to the dispatch span
(or its child with ``FASTAPI_EVENTS_USE_SPAN_LINKING=0``); a PRODUCER ``send {destination}``
span per forwarder batch, linked to every event's dispatch span.

Nothing is done while no SDK is configured (the global providers are still the API's
proxies) and no attribute is built for a span that is not recording.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceFlags, TraceState

from ._context import current_batch_span, enter_batch_span, reset
from ._env import EnvFlag
from ._event import Event
from ._otel_metrics import Instruments, event_names_in_metrics
from ._otel_providers import (
    any_global_provider_set,
    global_meter_provider,
    global_tracer_provider,
    usable_meter_provider,
)
from ._redact import describe_handler
from ._telemetry import Telemetry
from .constants import FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR
from .otel.attributes import SpanAttributes

__all__ = [
    "OtelTelemetry",
    "parse_traceparent",
    "trace_context_of",
]

_use_links = EnvFlag(FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR, default=True)

_SYSTEM = "fastapi_events"
_SCOPE = "fastapi_events"


def _version() -> str:
    from ._version import __version__

    return __version__


def trace_context_of(span_context: SpanContext) -> dict[str, str]:
    """The W3C ``traceparent``/``tracestate`` headers of ``span_context``."""
    flags = int(span_context.trace_flags)
    headers = {
        "traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}"
    }
    if state := span_context.trace_state.to_header():
        headers["tracestate"] = state
    return headers


def parse_traceparent(headers: Any) -> SpanContext | None:
    """The remote span context in W3C ``headers`` (a mapping), or ``None`` if invalid."""
    if not headers:
        return None
    parts = str(headers.get("traceparent", "")).split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    state = TraceState.from_header([headers["tracestate"]]) if headers.get("tracestate") else None
    context = SpanContext(trace_id, span_id, True, TraceFlags(flags & 0xFF), state)
    return context if context.is_valid else None


class OtelTelemetry(Telemetry):
    """Spans and metrics through explicit providers, or the global ones once configured."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer_cache: tuple[Any, Any] = (None, None)
        # Once a provider is there it stays: global providers can be set only once.
        self._enabled = tracer_provider is not None or meter_provider is not None
        self._meter_cache: tuple[Any, Any] = (None, None)

    # --- providers: explicit, or the global ones once an SDK replaced the proxies ---------

    def enabled(self) -> bool:
        """True once a provider was passed or a global one was set (two attribute reads)."""
        if self._enabled:
            return True
        if not any_global_provider_set():
            return False  # the common "installed, not configured" case
        self._enabled = global_tracer_provider() is not None or global_meter_provider() is not None
        return self._enabled

    def _tracer(self) -> Any:
        provider = self._tracer_provider or global_tracer_provider()
        if provider is None or isinstance(
            provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
        ):
            return None
        cached_provider, tracer = self._tracer_cache
        if provider is not cached_provider:
            tracer = provider.get_tracer(_SCOPE, _version())
            self._tracer_cache = (provider, tracer)
        return tracer

    def _instruments(self) -> Instruments | None:
        provider = self._meter_provider or global_meter_provider()
        if not usable_meter_provider(provider):
            return None
        cached_provider, instruments = self._meter_cache
        if provider is not cached_provider:
            instruments = Instruments(provider.get_meter(_SCOPE, _version()))
            self._meter_cache = (provider, instruments)
        return instruments  # type: ignore[no-any-return]

    # --- the seam ------------------------------------------------------------------------

    def on_dispatch(self, event: Event) -> None:
        """Start and end the dispatch span; keep its context on the event."""
        instruments = self._instruments()
        if instruments is not None:
            instruments.dispatched.add(1, _event_attributes(event))
        tracer = self._tracer()
        if tracer is None:
            return
        span = tracer.start_span(f"create {event.key}", kind=SpanKind.PRODUCER)
        if span.is_recording():
            span.set_attributes(_message_attributes(event, "create"))
        span.end()
        context = span.get_span_context()
        if context.is_valid:
            event.trace_context = trace_context_of(context)

    def handler_span(self, event: Event, handler: object) -> AbstractContextManager[Any]:
        """A CONSUMER span around one handler function run, linked to its dispatch."""
        name = describe_handler(handler)
        return self._measured(
            f"process {event.key}",
            SpanKind.CONSUMER,
            [event],
            lambda: {**_message_attributes(event, "process"), SpanAttributes.HANDLER: name},
            {**_event_attributes(event), SpanAttributes.HANDLER: name},
        )

    def batch_span(
        self, events: Sequence[Event], handler: object, *, system: str, destination: str
    ) -> AbstractContextManager[Any]:
        """A PRODUCER ``send`` span around one forwarder batch, linked to each dispatch."""
        attributes = {
            "messaging.system": system,
            "messaging.destination.name": destination,
            SpanAttributes.HANDLER: describe_handler(handler),
        }
        return self._measured(
            f"send {destination}",
            SpanKind.PRODUCER,
            events,
            lambda: _batch_attributes(attributes, events),
            attributes,
            batch=True,
        )

    @contextmanager
    def _measured(
        self,
        name: str,
        kind: SpanKind,
        events: Sequence[Event],
        span_attributes: Callable[[], dict[str, Any]],
        metric_attributes: dict[str, Any],
        *,
        batch: bool = False,
    ) -> Iterator[Any]:
        """A span (when tracing) and the handled/duration metrics (when metering) around
        one handler run or forwarder batch; ``span_attributes`` runs only if recording."""
        tracer, instruments = self._tracer(), self._instruments()
        started = time.perf_counter()
        outcome = "failure"
        try:
            if tracer is None:
                yield None
            else:
                with _start(tracer, name, kind, events) as span:
                    token = enter_batch_span(span) if batch else None
                    try:
                        if span.is_recording():
                            span.set_attributes(span_attributes())
                        yield span
                    finally:
                        if token is not None:
                            reset(token)
            outcome = "success"
        finally:
            if instruments is not None:
                elapsed = time.perf_counter() - started
                instruments.finished(metric_attributes, outcome, elapsed, len(events))

    def on_failure(self, event: Event, handler: object, exc: BaseException) -> None:
        """Count the failure; mark the forwarder batch span it happened in."""
        instruments = self._instruments()
        if instruments is not None:
            instruments.failed.add(
                1,
                {
                    **_event_attributes(event),
                    SpanAttributes.HANDLER: describe_handler(handler),
                    "error.type": type(exc).__qualname__,
                },
            )
        span = current_batch_span()
        if span is not None and span.is_recording():
            span.record_exception(exc, {"messaging.message.id": event.id})
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__qualname__}: {exc}"))

    def on_lost(self, events: Sequence[Event], error: BaseException) -> None:
        """Count events that no handler will ever see (shutdown timeout, cancellation)."""
        instruments = self._instruments()
        if instruments is not None:
            instruments.dropped.add(len(events), {"error.type": type(error).__qualname__})


@contextmanager
def _start(tracer: Any, name: str, kind: SpanKind, events: Sequence[Event]) -> Iterator[Any]:
    """Start a span linked to the dispatch spans of ``events`` (or, without linking and
    for one event, the child of its dispatch span); errors set its status."""
    remote = [c for e in events if (c := parse_traceparent(e.trace_context)) is not None]
    if not _use_links() and len(remote) == 1:
        parent = trace.set_span_in_context(NonRecordingSpan(remote[0]))
        with tracer.start_as_current_span(name, context=parent, kind=kind) as span:
            yield span
        return
    links = [Link(context) for context in remote]
    with tracer.start_as_current_span(name, kind=kind, links=links) as span:
        yield span


def _message_attributes(event: Event, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": _SYSTEM,
        "messaging.destination.name": event.key,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.message.id": event.id,
    }


def _batch_attributes(attributes: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    result = {**attributes, "messaging.operation.type": "send", "messaging.operation.name": "send"}
    if len(events) == 1:
        result["messaging.message.id"] = events[0].id
    else:
        result["messaging.batch.message_count"] = len(events)
    return result


def _event_attributes(event: Event) -> dict[str, Any]:
    return {"fastapi_events.event": event.key} if event_names_in_metrics() else {}
