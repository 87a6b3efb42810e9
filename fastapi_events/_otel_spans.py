"""The span machinery under :mod:`fastapi_events._otel_impl`: W3C trace headers, the span
context an event was dispatched in, and the context managers around a handler run or a
batch (``InSpan`` for a span alone, ``Measured`` when metrics are recorded too).

Imported only when opentelemetry is. Written for the per-event path: no generator-based
context managers (``start_as_current_span`` nests two), no re-parsing of the headers built
at dispatch, no attribute built for a span that is not recording, and the current context
read once per span (the caller passes it to ``start_span`` and here).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, set_span_in_context
from opentelemetry.trace.span import TraceFlags, TraceState

from ._context import enter_batch_span, reset
from ._event import Event
from ._otel_metrics import Instruments

__all__ = [
    "InSpan",
    "Measured",
    "links_to",
    "origin_of",
    "parse_traceparent",
    "remember_origin",
    "trace_context_of",
]


def trace_context_of(span_context: SpanContext) -> dict[str, str]:
    """The W3C ``traceparent``/``tracestate`` headers of ``span_context``."""
    flags = int(span_context.trace_flags)
    headers = {
        "traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}"
    }
    if span_context.trace_state and (state := span_context.trace_state.to_header()):
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


def remember_origin(event: Event, span_context: SpanContext) -> None:
    """Make ``span_context`` the event's trace context: its headers are formatted when
    first read (by a forwarder, say), never for local handlers alone."""
    event.__dict__.pop("_trace_context", None)
    event._trace_origin = (span_context, trace_context_of)


def origin_of(event: Event) -> SpanContext | None:
    """The span context ``event`` was dispatched in (its ``trace_context``), or ``None``."""
    origin = event._trace_origin
    if origin is not None:
        return origin[0]  # type: ignore[no-any-return]
    return parse_traceparent(event.trace_context)  # set by hand, received, replayed: parse


def links_to(events: Sequence[Event]) -> list[Link]:
    """One link per distinct span context the ``events`` were dispatched in."""
    if len(events) == 1:
        context = origin_of(events[0])
        return [] if context is None else [Link(context)]
    distinct: dict[tuple[int, int], SpanContext] = {}
    for event in events:
        context = origin_of(event)
        if context is not None:
            distinct.setdefault((context.trace_id, context.span_id), context)
    return [Link(context) for context in distinct.values()]


class InSpan:
    """A started span made current around one handler run; at exit an error is recorded
    on it and it ends (``Measured`` without metrics, for the per-event path)."""

    __slots__ = ("_context", "_span", "_token")

    def __init__(self, span: Any, context: Context) -> None:
        self._span = span
        self._context = context  # the context the span was started in

    def __enter__(self) -> Any:
        span = self._span
        self._token = attach(set_span_in_context(span, self._context))
        return span

    def __exit__(self, kind: Any, exc: BaseException | None, traceback: Any) -> None:
        detach(self._token)
        _end(self._span, exc)


class Measured:
    """A started span made current (and the batch span, for forwarder batches) around
    one handler run or batch; at exit an error is recorded on it, it ends, and the
    handled/duration metrics are recorded when metering.

    ``context`` is the context the span was started in (else the one current at entry).
    """

    __slots__ = (
        "_batch",
        "_context",
        "_count",
        "_instruments",
        "_metrics",
        "_span",
        "_started",
        "_tokens",
    )

    def __init__(
        self,
        span: Any,
        instruments: Instruments | None,
        metric_attributes: Mapping[str, Any],
        count: int,
        *,
        batch: bool = False,
        context: Context | None = None,
    ) -> None:
        self._span = span
        self._instruments = instruments
        self._metrics = metric_attributes
        self._count = count
        self._batch = batch
        self._context = context

    def __enter__(self) -> Any:
        span = self._span
        if span is None:
            self._tokens: tuple[Any, Any] = (None, None)
        else:
            self._tokens = (
                attach(set_span_in_context(span, self._context)),
                enter_batch_span(span) if self._batch else None,
            )
        if self._instruments is not None:
            self._started = time.perf_counter()
        return span

    def __exit__(self, kind: Any, exc: BaseException | None, traceback: Any) -> None:
        span = self._span
        if span is not None:
            context_token, batch_token = self._tokens
            if batch_token is not None:
                reset(batch_token)
            detach(context_token)
            _end(span, exc)
        instruments = self._instruments
        if instruments is not None:
            elapsed = time.perf_counter() - self._started
            outcome = "failure" if exc is not None else "success"
            instruments.finished(self._metrics, outcome, elapsed, self._count)


def _end(span: Any, exc: BaseException | None) -> None:
    # As opentelemetry's use_span(): only Exception subclasses are errors.
    if isinstance(exc, Exception) and span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.end()
