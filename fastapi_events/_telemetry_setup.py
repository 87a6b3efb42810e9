"""Choosing a pipeline's telemetry: OpenTelemetry when it is installed, else none.

Kept apart from the :class:`~fastapi_events._telemetry.Telemetry` interface so the
interface never imports its implementation (which imports it back).
"""

from __future__ import annotations

from typing import Any, Literal

from ._checks import check_otel_spans
from ._telemetry import Telemetry

__all__ = ["create_telemetry"]


def create_telemetry(
    tracer_provider: Any = None,
    meter_provider: Any = None,
    spans: Literal["two", "one"] = "two",
) -> Telemetry | None:
    """Return the telemetry for a pipeline, or ``None`` when there is nothing to record
    (opentelemetry is not installed: then no call site does any work). ``spans``: spans
    per event (``"one"``: no dispatch span), checked even without opentelemetry."""
    spans = check_otel_spans(spans)
    from .otel import HAS_OTEL_INSTALLED

    if not HAS_OTEL_INSTALLED:
        return None
    from ._otel_impl import OtelTelemetry

    return OtelTelemetry(tracer_provider, meter_provider, spans)
