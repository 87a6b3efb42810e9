"""The metric instruments of one meter, and which attributes metrics may carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._env import EnvFlag

__all__ = ["METRICS_EVENT_NAMES_ENV_VAR", "Instruments", "event_names_in_metrics"]

#: Set to a truthy value to add the event name to metric attributes (off: cardinality).
METRICS_EVENT_NAMES_ENV_VAR = "FASTAPI_EVENTS_METRICS_EVENT_NAMES"

#: Whether metric attributes carry the event name.
event_names_in_metrics = EnvFlag(METRICS_EVENT_NAMES_ENV_VAR, default=False)


class Instruments:
    """The counters and the histogram of one meter."""

    def __init__(self, meter: Any) -> None:
        self.dispatched = meter.create_counter(
            "fastapi_events.events.dispatched", "{event}", "Events dispatched"
        )
        self.handled = meter.create_counter(
            "fastapi_events.events.handled", "{event}", "Events given to a handler"
        )
        self.failed = meter.create_counter(
            "fastapi_events.events.failed", "{event}", "Handler failures reported"
        )
        self.dropped = meter.create_counter(
            "fastapi_events.events.dropped", "{event}", "Events never handled"
        )
        self.duration = meter.create_histogram(
            "fastapi_events.handler.duration", "s", "Duration of handler runs and batches"
        )

    def finished(
        self, attributes: Mapping[str, Any], outcome: str, seconds: float, count: int
    ) -> None:
        """Record one handler run or forwarder batch."""
        attributes = {**attributes, "fastapi_events.outcome": outcome}
        self.handled.add(count, attributes)
        self.duration.record(seconds, attributes)
