"""The outbox gauges: depth, oldest pending age and dead rows on a given meter provider."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from tests.outbox.kit import Recorder, Store

pytestmark = pytest.mark.anyio


def gauges(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    return {
        metric.name: point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.startswith("fastapi_events.outbox.")
        for point in metric.data.data_points
    }


async def test_a_running_relay_reports_its_outbox_as_gauges(sqlite_store: Store) -> None:
    """Rows held back by their backoff show as depth 2 with an age, on the outbox's table."""
    reader = InMemoryMetricReader()
    await sqlite_store.write([("a", {}), ("b", {})])
    failing = Recorder(fail=lambda event: True)
    provider = MeterProvider(metric_readers=[reader])
    relay = sqlite_store.relay([failing], backoff=600, max_backoff=600, meter_provider=provider)
    async with relay:
        await relay.wait_idle(10)
        points = gauges(reader)
    assert failing.failures == 2
    assert points["fastapi_events.outbox.depth"].value == 2
    assert points["fastapi_events.outbox.oldest_pending_age"].value >= 0
    assert points["fastapi_events.outbox.dead"].value == 0
    assert dict(points["fastapi_events.outbox.depth"].attributes) == {
        "fastapi_events.outbox.table": "fastapi_events_outbox"
    }


def test_without_a_recording_meter_provider_no_gauges_are_made() -> None:
    """No provider given and no global SDK: nothing is created."""
    from fastapi_events.outbox._metrics import StatsGauges

    assert StatsGauges.create(None, "t", 1.0) is None
