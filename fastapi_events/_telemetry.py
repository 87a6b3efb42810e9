"""The seam between the core and OpenTelemetry: what the core calls, and when.

Each pipeline holds a ``Telemetry`` (or none, when opentelemetry is not installed) and
exposes it as ``pipeline.telemetry`` only while ``enabled()`` (a provider was passed, or an
SDK set the global one); that is refreshed at startup and per batch, which is also when
the telemetry looks for its tracer and meter. Every per-event call site checks for
``None`` first, so without a configured SDK the cost is one attribute check.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ._event import Event

__all__ = ["Telemetry"]


class Telemetry:
    """Spans and metrics for one pipeline. This base records nothing."""

    def enabled(self) -> bool:
        """True when there is anything to record now (call sites skip the others when not)."""
        return False

    def on_dispatch(self, event: Event) -> None:
        """Called in the dispatching code's context, once per dispatched event."""

    def handler_span(self, event: Event, handler: object) -> AbstractContextManager[Any]:
        """Wraps one handler function (or ``handle`` call) running for one event."""
        return nullcontext()

    def batch_span(
        self, events: Sequence[Event], handler: object, *, system: str, destination: str
    ) -> AbstractContextManager[Any]:
        """Wraps one forwarder batch (``system``: ``aws_sqs``/``gcp_pubsub``)."""
        return nullcontext()

    def on_failure(self, event: Event, handler: object, exc: BaseException) -> None:
        """Called once for every reported failure (after logging, before the error hook)."""

    def on_lost(self, events: Sequence[Event], error: BaseException) -> None:
        """Called with events no handler will see (shutdown timeout, cancelled task)."""
