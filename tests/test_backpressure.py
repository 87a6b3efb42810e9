"""max_pending: the background queues are bounded; the overflow is spilled or reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError, EventsDroppedError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.spool import SQLiteSpool
from tests.accounting import Ledger

pytestmark = pytest.mark.anyio


def slow(ledger: Ledger) -> LocalHandler:
    handler = LocalHandler()

    @handler.register
    async def work(event: Event) -> None:
        await asyncio.sleep(0)
        ledger.handled.append(event.id)

    return handler


async def test_without_a_spool_the_overflow_is_reported_as_dropped() -> None:
    """500 events into a queue of 100: the rest are reported (EventsDroppedError), once each."""
    ledger = Ledger()
    middleware = EventHandlerASGIMiddleware(
        None,  # type: ignore[arg-type]
        handlers=[slow(ledger)],
        middleware_id=931,
        on_error=ledger.on_error,
        max_pending=100,
    )
    middleware.pipeline.bind_loop()
    for n in range(500):
        dispatch("job.run", {"n": n}, middleware_id=931)
    await middleware.pipeline.shutdown()
    ledger.assert_exact(500)
    assert len(ledger.handled) == 100
    assert {kind for _, _, kind in ledger.reported} == {EventsDroppedError}
    assert middleware.pipeline.admission.pending == 0


async def test_with_a_spool_the_overflow_is_spilled_and_handled_later(tmp_path: Path) -> None:
    """300 events into a queue of 50 with a spool: all 300 are handled, none reported."""
    ledger = Ledger()
    middleware = EventHandlerASGIMiddleware(
        None,  # type: ignore[arg-type]
        handlers=[slow(ledger)],
        middleware_id=932,
        on_error=ledger.on_error,
        max_pending=50,
        spool=SQLiteSpool(tmp_path / "spool.db", lease=0.3),
    )
    pipeline = middleware.pipeline
    await pipeline.start()
    peak = 0
    for n in range(300):
        dispatch("job.run", {"n": n}, middleware_id=932)
    for _ in range(1500):  # bounded: up to ~15 s
        peak = max(peak, pipeline.admission.pending)
        if len(ledger.handled) == 300:
            break
        await asyncio.sleep(0.01)
    await pipeline.shutdown()
    ledger.assert_exact(300)
    assert ledger.reported == []
    assert peak <= 50


@pytest.mark.parametrize("value", [0, "10", 1.5, True])
def test_bad_max_pending_fails_at_construction(value: object) -> None:
    """max_pending is an int >= 1."""
    with pytest.raises(ConfigurationError, match="max_pending"):
        EventHandlerASGIMiddleware(None, handlers=[], max_pending=value)  # type: ignore[arg-type]
