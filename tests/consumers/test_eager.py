"""Driving one delivery's coroutine in the current task until it first waits
(``consumers/_eager.py``)."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from fastapi_events.consumers._eager import run_eagerly

pytestmark = pytest.mark.anyio

_seen: contextvars.ContextVar[str] = contextvars.ContextVar("test_eager.seen", default="none")


async def test_a_coroutine_that_never_waits_finishes_without_handing_over() -> None:
    """No wait: ``on_wait`` is never called and the coroutine ran to its end."""
    done: list[str] = []
    waited: list[bool] = []

    async def quick() -> None:
        done.append("ran")

    await run_eagerly(quick(), lambda: waited.append(True))
    assert done == ["ran"]
    assert waited == []


async def test_on_wait_runs_before_the_task_yields_and_the_task_stays_the_same() -> None:
    """The first wait calls ``on_wait`` once, before anything else runs; the coroutine
    resumes in the same task, with what it awaited."""
    order: list[str] = []
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    tasks: list[asyncio.Task[object] | None] = []

    async def waits() -> None:
        tasks.append(asyncio.current_task())
        order.append(await future)
        await asyncio.sleep(0)
        tasks.append(asyncio.current_task())

    async def other() -> None:
        order.append("other")
        future.set_result("resumed")

    async def drive() -> None:
        await run_eagerly(waits(), lambda: order.append("on_wait"))

    driver = asyncio.ensure_future(drive())
    await asyncio.sleep(0)
    await other()
    await driver
    assert order == ["on_wait", "other", "resumed"]
    assert tasks == [driver, driver]


async def test_the_coroutine_runs_in_a_context_of_its_own() -> None:
    """A ContextVar it sets (before and after waiting) is not seen by the caller."""
    seen: list[str] = []

    async def sets() -> None:
        _seen.set("first step")
        await asyncio.sleep(0)
        seen.append(_seen.get())
        _seen.set("later step")

    await run_eagerly(sets(), lambda: None)
    assert seen == ["first step"]
    assert _seen.get() == "none"


async def test_cancelling_the_task_reaches_the_coroutine_where_it_waits() -> None:
    """The task's cancellation is thrown into the coroutine, which may handle it."""
    outcome: list[str] = []
    started = asyncio.Event()

    async def waits_forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    driver = asyncio.ensure_future(run_eagerly(waits_forever(), lambda: None))
    await started.wait()
    driver.cancel()
    with pytest.raises(asyncio.CancelledError):
        await driver
    assert outcome == ["cancelled"]


async def test_a_first_step_that_fails_hands_over_then_raises() -> None:
    """An error before any wait calls ``on_wait`` (what follows must not share its fate)
    and reaches the caller."""
    waited: list[bool] = []

    async def fails() -> None:
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        await run_eagerly(fails(), lambda: waited.append(True))
    assert waited == [True]
