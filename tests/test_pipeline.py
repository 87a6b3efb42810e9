"""Exact accounting: every event ends handled or reported, never both, on every path.

Each test counts events by id: handled + reported == dispatched, and no id in both.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.testclient import TestClient

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import (
    EventLoopClosedError,
    EventsCancelledError,
    ShutdownTimeoutError,
)
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.accounting import Ledger, call, dispatching_app

pytestmark = pytest.mark.anyio


def slow_handler(
    ledger: Ledger, delay: float, started: asyncio.Event | None = None
) -> LocalHandler:
    handler = LocalHandler()

    @handler.register
    async def slow(event: Event) -> None:
        if started is not None:
            started.set()
        await asyncio.sleep(delay)
        ledger.handled.append(event.id)

    return handler


@pytest.mark.parametrize("shutdown_timeout", [5.0, 0.05])
async def test_a_cancelled_drain_continues_in_the_background(shutdown_timeout: float) -> None:
    """Request task cancelled mid-drain (an outer timeout): the rest is handled or reported."""
    ledger = Ledger()
    started = asyncio.Event()
    handler = slow_handler(ledger, 0.01, started)
    middleware = EventHandlerASGIMiddleware(
        dispatching_app(10),
        handlers=[handler],
        on_error=ledger.on_error,
        shutdown_timeout=shutdown_timeout,
    )
    request = asyncio.ensure_future(call(middleware))
    await started.wait()
    while len(ledger.handled) < 3:
        await asyncio.sleep(0.001)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await middleware.pipeline.shutdown()
    ledger.assert_exact(10)
    assert len(ledger.handled) >= 3
    if shutdown_timeout == 5.0:
        assert len(ledger.handled) == 10
    assert {kind for _, _, kind in ledger.reported} <= {ShutdownTimeoutError}


async def test_a_cancelled_drain_never_reruns_a_finished_function() -> None:
    """Functions that finished with the interrupted event are not run again."""
    runs: list[str] = []
    handler = LocalHandler()
    second_started = asyncio.Event()

    @handler.register
    async def first(event: Event) -> None:
        runs.append(f"first:{event.payload['n']}")

    @handler.register
    async def second(event: Event) -> None:
        second_started.set()
        await asyncio.sleep(0.05)
        runs.append(f"second:{event.payload['n']}")

    middleware = EventHandlerASGIMiddleware(dispatching_app(2), handlers=[handler])
    request = asyncio.ensure_future(call(middleware))
    await second_started.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await middleware.pipeline.shutdown()
    assert runs == ["first:0", "second:0", "first:1", "second:1"]


async def test_shutdown_reports_only_what_was_not_handled() -> None:
    """A shutdown timeout shorter than the work reports exactly the unhandled events."""
    ledger = Ledger()
    handler = slow_handler(ledger, 0.005)
    middleware = EventHandlerASGIMiddleware(
        dispatching_app(0),
        handlers=[handler],
        middleware_id=811,
        on_error=ledger.on_error,
        shutdown_timeout=0.1,
    )
    middleware.pipeline.bind_loop()
    for i in range(200):
        dispatch("job.done", {"n": i}, middleware_id=811)
    await middleware.pipeline.shutdown()
    ledger.assert_exact(200)
    assert ledger.handled, "some events were handled before the timeout"
    assert ledger.reported, "some events were cut off by the timeout"
    assert {(h, kind) for _, h, kind in ledger.reported} == {(handler, ShutdownTimeoutError)}


async def test_a_task_cancelled_by_someone_else_reports_only_the_unhandled() -> None:
    """The background worker cancelled from outside: handled ones are not reported."""
    ledger = Ledger()
    handler = slow_handler(ledger, 0.005)
    middleware = EventHandlerASGIMiddleware(
        dispatching_app(0), handlers=[handler], middleware_id=812, on_error=ledger.on_error
    )
    middleware.pipeline.bind_loop()
    for i in range(50):
        dispatch("job.done", {"n": i}, middleware_id=812)
    while len(ledger.handled) < 5:
        await asyncio.sleep(0.001)
    tasks = list(middleware.pipeline.runner._tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    ledger.assert_exact(50)
    assert {kind for _, _, kind in ledger.reported} == {EventsCancelledError}


async def cancelled_elsewhere() -> None:
    """Await a future someone else cancelled: raises CancelledError in this task."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    await future


class Custom(BaseException):
    """A BaseException that is not a cancellation."""


@pytest.mark.parametrize(
    "raise_it",
    [
        pytest.param(
            cancelled_elsewhere,
            marks=pytest.mark.skipif(
                sys.version_info < (3, 11), reason="Python 3.10 has no Task.cancelling()"
            ),
            id="cancelled-elsewhere",
        ),
        pytest.param(lambda: _raise(Custom()), id="custom-base-exception"),
    ],
)
async def test_a_base_exception_in_a_handler_is_isolated(raise_it: Any) -> None:
    """A handler's BaseException (not its own cancellation) is reported for its event only."""
    ledger = Ledger()
    handler = LocalHandler()

    @handler.register
    async def sometimes(event: Event) -> None:
        if event.payload["n"] == 3:
            await raise_it()
        ledger.handled.append(event.id)

    middleware = EventHandlerASGIMiddleware(
        dispatching_app(10), handlers=[handler], on_error=ledger.on_error
    )
    await call(middleware)  # returns normally: nothing reaches the server
    ledger.assert_exact(10)
    assert len(ledger.reported) == 1
    assert issubclass(ledger.reported[0][2], (asyncio.CancelledError, Custom))


async def _raise(exc: BaseException) -> None:
    raise exc


def test_dispatch_from_a_thread_after_the_loop_closed_is_reported() -> None:
    """Events dispatched from a thread once the app's loop is gone are reported at once."""
    ledger = Ledger()
    handler = LocalHandler()
    handler.register(lambda event: ledger.handled.append(event.id))
    app = Starlette(
        routes=[Route("/", lambda request: None)],
        middleware=[
            Middleware(
                EventHandlerASGIMiddleware,
                handlers=[handler],
                middleware_id=813,
                on_error=ledger.on_error,
            )
        ],
    )
    with TestClient(app):
        pass
    threads = [
        threading.Thread(
            target=dispatch, args=("late.one", {"n": i}), kwargs={"middleware_id": 813}
        )
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.assert_exact(20)
    assert len(ledger.reported) == 20
    assert {kind for _, _, kind in ledger.reported} == {EventLoopClosedError}
