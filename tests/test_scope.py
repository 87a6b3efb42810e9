"""event_scope() and wait_for_pending(): events outside requests (upstream #68)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fastapi_events import event_scope, wait_for_pending
from fastapi_events._event import Event
from fastapi_events._runner import PendingEventsTimeout
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError, UnknownMiddlewareIdError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.recorders import Recorder

pytestmark = pytest.mark.anyio


async def test_scope_handles_its_events_at_exit_including_chained_ones() -> None:
    """Events dispatched in the block, and those their handlers chain, are done at exit."""
    handler = LocalHandler()
    seen: list[str] = []

    @handler.register(event_name="job.*")
    async def on_job(event: Event) -> None:
        seen.append(event.key)
        if event.key == "job.started":
            await asyncio.sleep(0)
            dispatch("job.chained", None)

    async with event_scope(handlers=[handler]):
        dispatch("job.started", None)
        assert seen == []
    assert seen == ["job.started", "job.chained"]


async def test_scope_with_middleware_id_uses_that_middlewares_handlers() -> None:
    """event_scope(middleware_id=...) drains into a running middleware's handlers."""
    recorder = Recorder()
    _alive = EventHandlerASGIMiddleware(app=None, handlers=[recorder], middleware_id=77)  # type: ignore[arg-type]
    async with event_scope(middleware_id=77):
        dispatch("x", 1)
    assert recorder.batches == [[("x", 1)]]


async def test_scope_arguments_are_checked() -> None:
    """Exactly one of handlers= and middleware_id= is required; unknown ids are errors."""
    with pytest.raises(ConfigurationError, match="exactly one"):
        async with event_scope():
            pass
    with pytest.raises(UnknownMiddlewareIdError, match="123"):
        async with event_scope(middleware_id=123):
            pass


async def test_wait_for_pending_times_out_naming_the_pending_events() -> None:
    """A timeout fails with a message naming what is still pending."""
    release = asyncio.Event()

    class Slow(Recorder):
        async def handle_many(self, events: Any) -> None:
            await release.wait()

    _alive = EventHandlerASGIMiddleware(app=None, handlers=[Slow()], middleware_id=5)  # type: ignore[arg-type]
    dispatch("slow.event", None, middleware_id=5)
    with pytest.raises(TimeoutError, match=r"1 event\(s\) still pending.*'slow.event'") as info:
        await wait_for_pending(0.05)
    assert isinstance(info.value, PendingEventsTimeout)
    release.set()
    await wait_for_pending(5)


async def test_dispatch_from_a_thread_outside_requests_reaches_the_loop() -> None:
    """dispatch(middleware_id=...) from a worker thread is handled on the app's loop."""
    recorder = Recorder()
    _alive = EventHandlerASGIMiddleware(app=None, handlers=[recorder], middleware_id=6)  # type: ignore[arg-type]
    async with event_scope(middleware_id=6):
        pass  # binds the loop, as the first request or startup does
    await asyncio.to_thread(dispatch, "from.thread", None, middleware_id=6)
    await asyncio.wait_for(recorder.received.wait(), 5)
    await wait_for_pending(5)
    assert recorder.names == ["from.thread"]


async def test_scope_handles_events_even_when_the_block_raises() -> None:
    """An exception in the block propagates, and the events dispatched before it are handled."""
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="job failed"):
        async with event_scope(handlers=[recorder]):
            dispatch("job.partial", {"step": 1})
            raise RuntimeError("job failed")
    assert recorder.names == ["job.partial"]


async def test_handlers_of_middleware_id_events_can_chain() -> None:
    """A handler of an event sent with middleware_id= dispatches a chained event."""
    handler = LocalHandler()
    seen: list[str] = []

    @handler.register(event_name="*")
    async def on_any(event: Event) -> None:
        seen.append(event.key)
        if event.key == "job.first":
            dispatch("job.second", None)

    _alive = EventHandlerASGIMiddleware(app=None, handlers=[handler], middleware_id=8)  # type: ignore[arg-type]
    dispatch("job.first", None, middleware_id=8)
    await wait_for_pending(5)
    assert seen == ["job.first", "job.second"]


async def test_wait_for_pending_timeout_names_the_callers_timeout() -> None:
    """The timeout error reports the timeout the caller gave, not what was left of it."""
    release = asyncio.Event()

    class Slow(Recorder):
        async def handle_many(self, events: Any) -> None:
            await release.wait()

    _alive = EventHandlerASGIMiddleware(app=None, handlers=[Slow()], middleware_id=9)  # type: ignore[arg-type]
    dispatch("slow.event", None, middleware_id=9)
    with pytest.raises(PendingEventsTimeout, match=r"after 0\.05s"):
        await wait_for_pending(0.05)
    release.set()
    await wait_for_pending(5)


async def test_a_cancelled_background_task_reports_its_events() -> None:
    """Events whose task is cancelled (the loop closing under it) reach the error hook."""
    started = asyncio.Event()
    errors: list[tuple[str, Exception]] = []

    class Stuck(Recorder):
        async def handle_many(self, events: Any) -> None:
            started.set()
            await asyncio.Event().wait()

    middleware = EventHandlerASGIMiddleware(
        app=None,  # type: ignore[arg-type]
        handlers=[Stuck()],
        middleware_id=10,
        on_error=lambda event, handler, exc: errors.append((event.key, exc)),
    )
    dispatch("stuck.event", None, middleware_id=10)
    await started.wait()
    pipeline = middleware.pipeline
    tasks = list(pipeline.runner._tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert [(name, type(exc).__name__) for name, exc in errors] == [
        ("stuck.event", "EventsCancelledError")
    ]
