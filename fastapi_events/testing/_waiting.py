"""Waiting until every pending event is handled, from async tests and from sync tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time

from .. import _store
from .._pipeline import EventPipeline
from ..errors import PendingEventsTimeout
from ..scope import wait_for_pending

__all__ = ["DEFAULT_TIMEOUT", "wait_until_handled", "wait_until_handled_sync"]

#: Seconds the waits allow by default: a hung handler fails the test instead of hanging it.
DEFAULT_TIMEOUT = 5.0

#: Extra seconds given to another thread's loop to answer before it counts as stuck.
_GRACE = 1.0


def _busy_elsewhere(
    current: asyncio.AbstractEventLoop | None,
) -> list[tuple[EventPipeline, asyncio.AbstractEventLoop]]:
    """Pipelines with background work on a loop other than ``current`` that is running.

    (A sync ``TestClient`` runs the app on a loop in a portal thread.) Work on a loop that
    is not running cannot progress, so it is not waited for.
    """
    busy = []
    for pipeline in _store.all_pipelines():
        loop = pipeline.loop
        if loop is None or loop is current or not len(pipeline.runner):
            continue
        if loop.is_running() and not loop.is_closed():
            busy.append((pipeline, loop))
    return busy


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


async def _noop() -> None:
    pass


def _limit(deadline: float | None) -> float | None:
    remaining = _remaining(deadline)
    return None if remaining is None else remaining + _GRACE


def _round_trips(
    current: asyncio.AbstractEventLoop | None,
) -> list[concurrent.futures.Future[None]]:
    """Send a no-op through every other running loop the apps use.

    ``dispatch(middleware_id=...)`` from another thread hands the event to the app's loop
    with ``call_soon_threadsafe``; once a later round trip has come back, that hand-over
    has run, so the event is pending (or done) when the runners are checked.
    """
    loops = {p.loop for p in _store.all_pipelines() if p.loop is not None}
    return [
        asyncio.run_coroutine_threadsafe(_noop(), loop)
        for loop in loops
        if loop is not current and loop.is_running() and not loop.is_closed()
    ]


def _wait_in_loop(
    pipeline: EventPipeline, loop: asyncio.AbstractEventLoop, deadline: float | None
) -> tuple[concurrent.futures.Future[None], float | None]:
    coroutine = pipeline.wait_for_pending(_remaining(deadline))
    return asyncio.run_coroutine_threadsafe(coroutine, loop), _limit(deadline)


def _stuck(pipeline: EventPipeline, timeout: float | None) -> PendingEventsTimeout:
    return PendingEventsTimeout(list(pipeline.runner.pending_events()), timeout)


async def wait_until_handled(timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Wait until every pending event has been handled, chained and background ones included.

    For async tests (``httpx.ASGITransport``, ``event_scope``); in a sync test with a
    ``TestClient`` use :func:`wait_until_handled_sync`. Builds on
    :func:`fastapi_events.wait_for_pending`, adding a default timeout and the apps a
    ``TestClient`` runs in its own thread.

    Raises:
        TimeoutError: events were still pending after ``timeout`` seconds (``None``: no
            limit); the message names them. Their handling goes on.

    Example::

        await client.post("/orders", json={"total": 10})
        await wait_until_handled()
        recorder.assert_dispatched("invoice.sent")

    .. versionadded:: 1.0
    """
    __tracebackhide__ = True
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else time.monotonic() + timeout
    # Let events handed over from other threads (call_soon_threadsafe) reach their runners.
    await asyncio.sleep(0)
    for future in _round_trips(loop):
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.wrap_future(future), _limit(deadline))
    try:
        while busy := _busy_elsewhere(loop):
            for pipeline, other in busy:
                future, limit = _wait_in_loop(pipeline, other, deadline)
                try:
                    await asyncio.wait_for(asyncio.wrap_future(future), limit)
                except PendingEventsTimeout:
                    raise
                except asyncio.TimeoutError:  # that loop did not answer in time
                    raise _stuck(pipeline, timeout) from None
        await wait_for_pending(_remaining(deadline))
    except PendingEventsTimeout as exc:
        raise PendingEventsTimeout(exc.events, timeout) from None  # the caller's timeout


def wait_until_handled_sync(timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Block until every pending event has been handled: :func:`wait_until_handled` for
    sync tests.

    Waits for the apps that a ``TestClient`` runs on an event loop in its portal thread;
    use the client as a context manager (``with TestClient(app) as client:``), since
    without it the loop, and any event still pending on it, ends with each request.

    Raises:
        TimeoutError: events were still pending after ``timeout`` seconds; the message
            names them.
        RuntimeError: called from a running event loop (use ``await wait_until_handled()``).

    .. versionadded:: 1.0
    """
    __tracebackhide__ = True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "wait_until_handled_sync() blocks, so it cannot run inside an event loop; "
            "in an async test use `await wait_until_handled()`"
        )
    deadline = None if timeout is None else time.monotonic() + timeout
    for future in _round_trips(None):
        with contextlib.suppress(concurrent.futures.TimeoutError):
            future.result(_limit(deadline))
    while busy := _busy_elsewhere(None):
        for pipeline, loop in busy:
            future, limit = _wait_in_loop(pipeline, loop, deadline)
            try:
                future.result(limit)
            except PendingEventsTimeout as exc:
                raise PendingEventsTimeout(exc.events, timeout) from None
            except concurrent.futures.TimeoutError:  # that loop did not answer in time
                future.cancel()
                raise _stuck(pipeline, timeout) from None
