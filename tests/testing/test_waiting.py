"""wait_until_handled() and its sync twin: background work done, or a clear timeout."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fastapi_events import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.testing import (
    PendingEventsTimeout,
    RecordingHandler,
    wait_until_handled,
    wait_until_handled_sync,
)
from tests.apps import build_app
from tests.testing.apps import SlowRecorder, chaining_handler, make_app, sync_client


async def _no_app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("no request is made")


def gated_handler(gate: threading.Event, seen: list[str]) -> LocalHandler:
    """``first`` chains ``gated``, whose handling waits until ``gate`` is set."""
    handler = LocalHandler()

    @handler.register(event_name="first")
    async def first(event: Event) -> None:
        dispatch("gated", {"n": 1})

    @handler.register(event_name="gated")
    async def gated(event: Event) -> None:
        while not gate.is_set():
            await asyncio.sleep(0.01)
        seen.append(event.key)

    return handler


@pytest.mark.anyio
async def test_waits_for_background_events_outside_requests() -> None:
    """Events sent with middleware_id= are handled in the background; the wait covers them."""
    gate, seen = threading.Event(), []
    middleware = EventHandlerASGIMiddleware(_no_app, handlers=[gated_handler(gate, seen)])
    dispatch("gated", None, middleware_id=middleware.middleware_id)
    await asyncio.sleep(0)
    gate.set()
    await wait_until_handled()
    assert seen == ["gated"]


@pytest.mark.anyio
async def test_timeout_names_the_pending_events() -> None:
    """A timeout raises a TimeoutError naming what is still pending."""
    gate, seen = threading.Event(), []
    middleware = EventHandlerASGIMiddleware(_no_app, handlers=[gated_handler(gate, seen)])
    dispatch("gated", None, middleware_id=middleware.middleware_id)
    try:
        with pytest.raises(
            TimeoutError, match=r"still pending after 0\.05s: 'gated' \(id "
        ) as info:
            await wait_until_handled(timeout=0.05)
        assert isinstance(info.value, PendingEventsTimeout)
        assert [event.key for event in info.value.events] == ["gated"]
    finally:
        gate.set()
        await wait_until_handled()


def test_sync_wait_covers_a_test_clients_portal_loop() -> None:
    """In a sync test, the wait reaches the loop the TestClient runs the app on."""
    gate, seen = threading.Event(), []
    app = build_app("starlette", [gated_handler(gate, seen)], middleware_id=9101)
    with sync_client("starlette", app) as client:
        client.get("/events?n=0")
        gate.set()
        wait_until_handled_sync()  # nothing pending: returns at once
        dispatch("gated", None, middleware_id=9101)
        wait_until_handled_sync()
        assert seen == ["gated"]


def test_sync_timeout_names_the_pending_events() -> None:
    """The sync wait times out like the async one, naming the pending event."""
    gate, seen = threading.Event(), []
    recorder = RecordingHandler()
    app = build_app("fastapi", [gated_handler(gate, seen), recorder], middleware_id=9102)
    with sync_client("fastapi", app) as client:
        client.get("/events?n=0")
        dispatch("gated", None, middleware_id=9102)
        try:
            with pytest.raises(TimeoutError, match="'gated'"):
                wait_until_handled_sync(timeout=0.05)
        finally:
            gate.set()
        wait_until_handled_sync()
    assert seen == ["gated"]


@pytest.mark.anyio
async def test_sync_wait_refuses_to_block_a_running_loop() -> None:
    """Called from async code, the sync wait says to await the async one instead."""
    with pytest.raises(RuntimeError, match="await wait_until_handled"):
        wait_until_handled_sync()


@pytest.mark.anyio
async def test_waits_for_events_handed_over_from_worker_threads() -> None:
    """An event a worker thread hands to the loop just before the wait is waited for."""
    seen: list[str] = []
    handler = LocalHandler()

    @handler.register(event_name="threaded")
    async def record(event: Event) -> None:
        await asyncio.sleep(0.01)
        seen.append(event.key)

    middleware = EventHandlerASGIMiddleware(_no_app, handlers=[handler])
    middleware.pipeline.bind_loop()
    thread = threading.Thread(
        target=dispatch, args=("threaded", None), kwargs={"middleware_id": middleware.middleware_id}
    )
    thread.start()
    thread.join()
    await wait_until_handled()
    assert seen == ["threaded"]


@pytest.mark.anyio
async def test_async_wait_reaches_a_sync_test_clients_loop() -> None:
    """An async test driving a sync TestClient still waits for the app's background work."""
    recorder = SlowRecorder()
    app = make_app("starlette", [chaining_handler(), recorder])
    with sync_client("starlette", app) as client:
        client.get("/events?n=1")
        await wait_until_handled()
        recorder.assert_dispatched("item.chained")
