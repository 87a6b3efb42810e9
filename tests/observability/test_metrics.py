"""Metrics: dispatched, handled, failed and dropped counters; handler duration."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.observability.conftest import Otel

pytestmark = pytest.mark.anyio


def flaky_handler() -> LocalHandler:
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def sometimes(event: Event) -> None:
        if event.payload == "fail":
            raise RuntimeError("no")

    return handler


async def test_counters_count_dispatched_handled_and_failed(otel: Otel) -> None:
    """Three events, one failing: dispatched 3, handled 3 (2 success, 1 failure), failed 1."""
    async with event_scope(handlers=[flaky_handler()], **otel.providers):
        for payload in ("ok", "fail", "ok"):
            dispatch("order.created", payload)
    assert otel.total("fastapi_events.events.dispatched") == 3
    assert otel.total("fastapi_events.events.handled", **{"fastapi_events.outcome": "success"}) == 2
    assert otel.total("fastapi_events.events.handled", **{"fastapi_events.outcome": "failure"}) == 1
    assert otel.total("fastapi_events.events.failed", **{"error.type": "RuntimeError"}) == 1
    [duration] = [
        p
        for p in otel.metric_points("fastapi_events.handler.duration")
        if p.attributes["fastapi_events.outcome"] == "success"
    ]
    assert duration.count == 2


async def test_metric_attributes_are_low_cardinality(otel: Otel) -> None:
    """No payload values and, by default, no event names in metric attributes."""
    async with event_scope(handlers=[flaky_handler()], **otel.providers):
        dispatch("order.created", "fail")
    keys = {
        key
        for name in ("dispatched", "handled", "failed")
        for point in otel.metric_points(f"fastapi_events.events.{name}")
        for key in point.attributes
    }
    assert keys == {"fastapi_events.handler", "fastapi_events.outcome", "error.type"}


async def test_event_names_in_metrics_are_opt_in(
    otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FASTAPI_EVENTS_METRICS_EVENT_NAMES=1 adds the event name to the attributes."""
    monkeypatch.setenv("FASTAPI_EVENTS_METRICS_EVENT_NAMES", "1")
    async with event_scope(handlers=[flaky_handler()], **otel.providers):
        dispatch("order.created", "ok")
    assert (
        otel.total("fastapi_events.events.dispatched", **{"fastapi_events.event": "order.created"})
        == 1
    )


def test_events_lost_at_shutdown_are_counted_as_dropped(otel: Otel) -> None:
    """Events still running at the shutdown timeout count as dropped."""
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def never(event: Event) -> None:
        await asyncio.Event().wait()

    options = {"handlers": [handler], "middleware_id": 71, "shutdown_timeout": 0.05}
    app = Starlette(
        middleware=[Middleware(EventHandlerASGIMiddleware, **options, **otel.providers)]
    )
    with TestClient(app):
        dispatch("stuck", None, middleware_id=71)
        dispatch("stuck", None, middleware_id=71)
    assert (
        otel.total("fastapi_events.events.dropped", **{"error.type": "ShutdownTimeoutError"}) == 2
    )
