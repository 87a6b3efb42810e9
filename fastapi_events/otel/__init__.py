"""OpenTelemetry support (extra ``otel``): detection, and trace continuity for consumers.

Importing this package or its modules does not import opentelemetry. The 0.12 import
paths are kept: :mod:`fastapi_events.otel.attributes` (``SpanAttributes``) and
:mod:`fastapi_events.otel.utils` (the trace-context helpers, also importable from here).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = [
    "HAS_OTEL_INSTALLED",
    "OTEL_INSTALL_HINT",
    "consumer_span",
    "extract_trace_context",
]

#: True when ``opentelemetry`` can be imported (checked without importing it).
HAS_OTEL_INSTALLED: bool = importlib.util.find_spec("opentelemetry") is not None

OTEL_INSTALL_HINT = (
    "Package 'opentelemetry-api' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[otel]'`"
)


def _trace_headers(message: Any) -> dict[str, str]:
    """The ``traceparent``/``tracestate`` carried by a received message, in any shape."""
    from ..serialization import ReceivedEvent, message_attributes

    if isinstance(message, ReceivedEvent) and message.trace_context:
        return dict(message.trace_context)
    if isinstance(message, Mapping) and "MessageAttributes" in message and "Body" not in message:
        message = message["MessageAttributes"]
    attributes = message_attributes(message)
    return {key: attributes[key] for key in ("traceparent", "tracestate") if attributes.get(key)}


def extract_trace_context(message: Any) -> Any:
    """The OpenTelemetry ``Context`` a forwarded event was dispatched in.

    ``message`` is an SQS message dict (``MessageAttributes``), a Pub/Sub message
    (``.attributes``), a :class:`~fastapi_events.serialization.ReceivedEvent` or a plain
    mapping of attributes. Without trace context the result is the empty context.

    Raises:
        ImportError: opentelemetry is not installed.

    .. versionadded:: 1.0
    """
    try:
        from opentelemetry import trace
        from opentelemetry.context import Context
    except ImportError as exc:
        raise ImportError(OTEL_INSTALL_HINT) from exc
    from .._otel_impl import parse_traceparent

    remote = parse_traceparent(_trace_headers(message))
    if remote is None:
        return Context()
    return trace.set_span_in_context(trace.NonRecordingSpan(remote))


@contextmanager
def consumer_span(
    message: Any, name: str | None = None, *, tracer_provider: Any = None, link: bool = False
) -> Iterator[Any]:
    """Run the consumer's work in a CONSUMER ``process`` span continuing the producer's trace.

    The span is the child of the dispatch span (``link=True``: a new trace linked to it).
    ``name`` defaults to ``process <event name>`` for a ``ReceivedEvent``.

    Example::

        for message in sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])[
            "Messages"
        ]:
            event = decode(message)
            with consumer_span(message, f"process {event.name}"):
                handle(event)

    .. versionadded:: 1.0
    """
    from opentelemetry import trace
    from opentelemetry.context import Context

    context = extract_trace_context(message)
    if name is None:
        event_name = getattr(message, "name", None)
        name = f"process {event_name}" if event_name else "process"
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("fastapi_events")
    kind = trace.SpanKind.CONSUMER
    if link:
        links = [trace.Link(trace.get_current_span(context).get_span_context())]
        links = [item for item in links if item.context.is_valid]
        with tracer.start_as_current_span(name, context=Context(), kind=kind, links=links) as span:
            yield span
        return
    with tracer.start_as_current_span(name, context=context, kind=kind) as span:
        yield span
