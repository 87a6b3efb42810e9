"""The outbox's depth, oldest pending age and dead rows as OpenTelemetry gauges.

Gauges are observed by the SDK's reader (on its own thread), which cannot query an async
engine: the relay refreshes the values it reports from its own loop, at most every
``interval`` seconds. Nothing is created unless a meter provider records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..otel import HAS_OTEL_INSTALLED

__all__ = ["StatsGauges"]

logger = logging.getLogger("fastapi_events.outbox")


class StatsGauges:
    """Three observable gauges over the latest :class:`OutboxStats` the relay read."""

    def __init__(self, meter: Any, table: str, interval: float) -> None:
        self.latest: Any = None
        self._interval = interval
        self._refreshed = float("-inf")
        self._attributes = {"fastapi_events.outbox.table": table}
        for name, unit, text, read in [
            ("depth", "{event}", "Outbox rows waiting to be published", _depth),
            ("oldest_pending_age", "s", "Age of the oldest row waiting", _age),
            ("dead", "{event}", "Outbox rows given up on", _dead),
        ]:
            meter.create_observable_gauge(
                f"fastapi_events.outbox.{name}",
                callbacks=[self._observer(read)],
                unit=unit,
                description=text,
            )

    @classmethod
    def create(cls, meter_provider: Any, table: str, interval: float) -> StatsGauges | None:
        """The gauges on ``meter_provider`` (else the global one), or ``None`` when
        opentelemetry is not installed or no provider records."""
        if not HAS_OTEL_INSTALLED:
            return None
        from .._otel_providers import global_meter_provider, usable_meter_provider
        from .._version import __version__

        provider = global_meter_provider() if meter_provider is None else meter_provider
        if not usable_meter_provider(provider):
            return None
        return cls(provider.get_meter("fastapi_events", __version__), table, interval)

    async def refresh(self, read: Callable[[], Awaitable[Any]]) -> None:
        """Report ``await read()`` from now on, if the values are older than the refresh
        interval (a failure is logged; the old values stay)."""
        if time.monotonic() - self._refreshed < self._interval:
            return
        self._refreshed = time.monotonic()
        try:
            self.latest = await read()
        except Exception as exc:
            logger.warning("outbox stats for the gauges failed (%s)", type(exc).__name__)

    def _observer(self, read: Callable[[Any], float | None]) -> Callable[[Any], Iterable[Any]]:
        from opentelemetry.metrics import Observation

        def observe(options: Any) -> Iterable[Any]:
            value = None if self.latest is None else read(self.latest)
            return [] if value is None else [Observation(value, self._attributes)]

        return observe


def _depth(stats: Any) -> float:
    return float(stats.depth)


def _age(stats: Any) -> float:
    return float(stats.oldest_pending_age or 0.0)


def _dead(stats: Any) -> float:
    return float(stats.dead)
