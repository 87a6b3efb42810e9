"""Lazy payloads: evaluated after the response into an Event that keeps its metadata."""

from __future__ import annotations

import json

import pytest

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.testing import RecordingHandler, capture_events

pytestmark = pytest.mark.anyio

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


async def test_handlers_get_a_tuple_of_the_value_with_the_dispatch_metadata() -> None:
    """The handled event is (name, value) with the id, time and metadata of the dispatch."""
    recorder = RecordingHandler()
    async with capture_events() as captured, event_scope(handlers=[recorder]):
        dispatch("report.ready", lambda: {"rows": 2})
        dispatched = captured[0]
        dispatched.trace_context = TRACE
        dispatched.correlation_id = "corr-1"
    (handled,) = recorder.events
    assert isinstance(handled, tuple) and json.dumps(handled) == '["report.ready", {"rows": 2}]'
    assert handled.id == dispatched.id and handled.unix_time == dispatched.unix_time
    assert handled.key == "report.ready"
    assert handled.trace_context == TRACE and handled.correlation_id == "corr-1"
    assert captured[0] == handled and captured.events == [handled]


async def test_a_lazy_payload_is_evaluated_once_for_every_handler() -> None:
    """Two handler objects see the same evaluated value; the factory runs once."""
    calls: list[int] = []
    first, second = RecordingHandler(), RecordingHandler()

    def factory() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    async with event_scope(handlers=[first, second]):
        dispatch("once", factory)
    assert first.events == second.events == [("once", {"n": 1})]
    assert calls == [1]
