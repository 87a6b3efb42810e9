"""capture_events(): what it records, from where, and whether events are also handled."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from enum import Enum

import pytest

from fastapi_events import Event, event_scope
from fastapi_events._observers import dispatch_observers
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import OutsideEventScopeError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.testing import EventCapture, RecordingHandler, capture_events


class Color(Enum):
    RED = "color.red"


@pytest.mark.anyio
async def test_records_name_payload_and_metadata_and_still_handles() -> None:
    """Each event is recorded with its metadata, and (by default) handled as usual."""
    recorder = RecordingHandler()
    with capture_events() as events:
        async with event_scope(handlers=[recorder]):
            dispatch("order.created", {"total": 10})
    [event] = events
    assert (event.name, event.payload) == ("order.created", {"total": 10})
    assert isinstance(event.timestamp, datetime)
    assert recorder.events[0].id == event.id


@pytest.mark.anyio
async def test_handle_false_records_without_handling() -> None:
    """With handle=False no handler receives the recorded events."""
    recorder = RecordingHandler()
    with capture_events(handle=False) as events:
        async with event_scope(handlers=[recorder]):
            dispatch("order.created", {"total": 10})
    assert events.names == ["order.created"]
    assert recorder.events == []


def test_handle_false_lets_code_dispatch_outside_any_request() -> None:
    """Recording only, dispatch() outside a request or scope does not raise."""
    with capture_events(handle=False) as events:
        dispatch("job.done", {"rows": 3})
    events.assert_dispatched("job.done", {"rows": 3})


def test_handle_true_keeps_the_outside_scope_error() -> None:
    """Handled normally, dispatch() outside any scope still raises, and is still recorded."""
    with capture_events() as events, pytest.raises(OutsideEventScopeError):
        dispatch("job.done")
    assert events.names == ["job.done"]


@pytest.mark.anyio
async def test_records_events_chained_by_handlers() -> None:
    """Events a handler dispatches while handling another are recorded too."""
    handler = LocalHandler()

    @handler.register(event_name="user.created")
    async def welcome(event: Event) -> None:
        dispatch("email.queued", {"to": event.payload["email"]})

    async with capture_events() as events, event_scope(handlers=[handler]):
        dispatch("user.created", {"email": "ann@example.com"})
    events.assert_dispatched_in_order("user.created", ("email.queued", {"to": "ann@example.com"}))


def test_records_events_dispatched_in_worker_threads() -> None:
    """Events dispatched from other threads are recorded."""
    with capture_events(handle=False) as events:
        threads = [threading.Thread(target=dispatch, args=(f"thread.{i}", None)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(events.names) == ["thread.0", "thread.1", "thread.2"]


def test_stops_recording_at_exit() -> None:
    """Nothing dispatched after the block is recorded, and the observer is gone."""
    with capture_events(handle=False) as events:
        dispatch("inside")
    with capture_events(handle=False):
        dispatch("after")
    assert events.names == ["inside"]
    assert events._observer not in dispatch_observers


def test_nested_captures_both_record_and_the_inner_mode_applies() -> None:
    """An inner record-only capture swallows events the outer capture records as well."""
    with capture_events() as outer, capture_events(handle=False) as inner:
        dispatch("nested", None)  # would raise OutsideEventScopeError if not swallowed
    assert outer.names == inner.names == ["nested"]


@pytest.mark.anyio
async def test_lazy_payload_is_recorded_evaluated_once_handled() -> None:
    """A callable payload shows its value in the capture after the event is handled."""
    async with capture_events() as events, event_scope(handlers=[RecordingHandler()]):
        dispatch("report.ready", lambda: {"rows": 2})
    events.assert_dispatched("report.ready", {"rows": 2})


@pytest.mark.anyio
async def test_async_with_records_across_awaits() -> None:
    """The capture works as an async context manager across task switches."""
    async with capture_events(handle=False) as events:
        await asyncio.sleep(0)
        dispatch("after.await")
    assert events.names == ["after.await"]


def test_enum_names_are_recorded_as_dispatched_and_matched_by_value() -> None:
    """An Enum name stays the member on the event and is matched by its value or member."""
    with capture_events(handle=False) as events:
        dispatch(Color.RED, {"hex": "#f00"})
    assert events[0].name is Color.RED
    events.assert_dispatched(Color.RED)
    events.assert_dispatched("color.*", {"hex": "#f00"})


def test_starting_an_active_capture_twice_is_an_error() -> None:
    """start() on an active capture raises instead of recording every event twice."""
    capture = EventCapture()
    with capture, pytest.raises(RuntimeError, match="already active"):
        capture.start()


def test_clear_forgets_recorded_events() -> None:
    """clear() empties the capture, which keeps recording."""
    with capture_events(handle=False) as events:
        dispatch("first")
        events.clear()
        dispatch("second")
    assert events.names == ["second"]


def test_capture_is_falsy_until_it_records_an_event() -> None:
    """An empty capture is falsy with len 0; it is truthy and iterable once it recorded."""
    with capture_events(handle=False) as events:
        pass
    assert not events
    assert (len(events), list(events)) == (0, [])
    with capture_events(handle=False) as events:
        dispatch("a", {"n": 1})
        dispatch("b")
    assert events
    assert len(events) == 2
    assert [(event.name, event.payload) for event in events] == [("a", {"n": 1}), ("b", None)]
