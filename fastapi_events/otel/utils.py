"""Trace-context helpers for consumers of forwarded events (the 0.12 import path).

0.12 kept its span helpers in this module; here it offers the helpers a consumer of
forwarded events needs, the same objects as in :mod:`fastapi_events.otel`:

- :func:`extract_trace_context`: the OpenTelemetry ``Context`` an event was dispatched in,
  read from an SQS or Pub/Sub message (or a ``ReceivedEvent``);
- :func:`consumer_span`: a CONSUMER span continuing that trace around the consumer's work.

Importing this module does not import opentelemetry; calling the helpers needs it.
"""

from __future__ import annotations

from . import consumer_span, extract_trace_context

__all__ = ["consumer_span", "extract_trace_context"]
