"""Retries with a dead-letter handler, and concurrency limits, of local handler functions.

Outcomes are counted by event id: handled + reported + dead-lettered == dispatched."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections import Counter
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError, EventDeadLetteredError
from fastapi_events.handlers.aws import RetryPolicy
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.accounting import Ledger, call, dispatching_app

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


class Flaky(Exception):
    """A transient failure."""


async def test_a_retry_reruns_only_the_failing_function_then_succeeds() -> None:
    """Fails twice, then succeeds: delivered once to success; siblings ran once each."""
    calls: Counter[str] = Counter()
    handler = LocalHandler()

    @handler.register
    async def before(event: Event) -> None:
        calls["before"] += 1

    @handler.register(retry=FAST)
    async def flaky(event: Event) -> None:
        calls["flaky"] += 1
        if calls["flaky"] <= 2:
            raise Flaky

    ledger = Ledger()
    async with event_scope(handlers=[handler], on_error=ledger.on_error):
        dispatch("order.placed", {"n": 1})
    assert calls == Counter(before=1, flaky=3)
    assert ledger.reported == []


async def test_spent_retries_go_to_the_dead_letter_handler_and_on_error() -> None:
    """Always failing: after 3 attempts each event is dead-lettered once (and reported as
    such), the others handled; no id in two outcomes."""
    dead: list[str] = []
    ledger = Ledger()
    handler = LocalHandler()

    @handler.register(retry=FAST)
    async def sometimes(event: Event) -> None:
        if event.payload["n"] % 3 == 0:
            raise Flaky
        ledger.handled.append(event.id)

    middleware = EventHandlerASGIMiddleware(
        dispatching_app(9),
        handlers=[handler],
        on_error=ledger.on_error,
        dead_letter=lambda event: dead.append(event.id),
    )
    await call(middleware)
    ledger.assert_exact(9)
    assert sorted(dead) == sorted(ledger.reported_ids()) and len(dead) == 3
    assert {kind for _, _, kind in ledger.reported} == {EventDeadLetteredError}


async def test_exceptions_outside_retry_on_are_reported_at_once() -> None:
    """retry_on narrows what is retried: another exception is reported after one call."""
    calls: list[int] = []
    handler = LocalHandler()

    @handler.register(retry=RetryPolicy(attempts=5, base_delay=0, retry_on=(Flaky,)))
    async def strict(event: Event) -> None:
        calls.append(1)
        raise ValueError("permanent")

    ledger = Ledger()
    async with event_scope(handlers=[handler], on_error=ledger.on_error):
        dispatch("order.placed", {"n": 1})
    assert (len(calls), [kind for _, _, kind in ledger.reported]) == (1, [ValueError])


async def test_max_concurrency_bounds_runs_across_requests() -> None:
    """10,000 events from 100 concurrent drains: never more than 4 calls at once."""
    running, peak, seen = 0, 0, 0
    handler = LocalHandler()

    @handler.register(max_concurrency=4)
    async def limited(event: Event) -> None:
        nonlocal running, peak, seen
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        seen += 1

    middleware = EventHandlerASGIMiddleware(dispatching_app(100), handlers=[handler])
    gc.collect()
    tracemalloc.start()
    await asyncio.gather(*[call(middleware) for _ in range(100)])
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\nmax_concurrency=4: 10000 events, peak {peak} at once, {peak_bytes / 1e6:.1f} MB peak")
    assert (seen, peak) == (10_000, 4)


@pytest.mark.parametrize(
    "options", [{"retry": 3}, {"max_concurrency": 0}, {"max_concurrency": "4"}]
)
def test_bad_guard_options_fail_at_registration(options: dict[str, Any]) -> None:
    """retry must be a RetryPolicy, max_concurrency an int >= 1."""
    with pytest.raises(ConfigurationError):
        LocalHandler().register(lambda event: None, **options)


def test_a_dead_letter_that_is_not_a_handler_is_rejected() -> None:
    """dead_letter= takes a handler object or a function."""
    with pytest.raises(ConfigurationError, match="dead_letter"):
        EventHandlerASGIMiddleware(None, handlers=[], dead_letter="dlq")  # type: ignore[arg-type]
