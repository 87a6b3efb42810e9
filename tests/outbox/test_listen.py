"""LISTEN/NOTIFY: a committed row wakes a listening relay long before its next poll, and
the listener comes back after its connection is killed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from fastapi_events.outbox._listen import listener_driver
from tests.outbox.kit import Recorder, Store, close_store, eventually, open_store

pytestmark = pytest.mark.anyio

#: Far longer than any deadline below: a row published in time was not found by a poll.
POLL = 120.0


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql+asyncpg://u@h/db", "asyncpg"),
        ("postgresql+psycopg://u@h/db", "psycopg"),
        ("postgresql+psycopg2://u@h/db", "psycopg"),
        ("sqlite:///x.db", None),
    ],
)
def test_the_listener_uses_the_engine_driver_or_an_installed_one(url: str, driver: str) -> None:
    """asyncpg and psycopg 3 engines listen with their own driver; psycopg2 with psycopg 3."""
    assert listener_driver(sa.make_url(url)) == driver


@pytest.fixture(params=["asyncpg", "psycopg"])
async def listening_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An outbox on PostgreSQL through asyncpg (async engine) or psycopg (sync engine)."""
    store = await open_store(request.param, request, tmp_path)
    yield store  # type: ignore[misc]
    await close_store(store)


async def test_a_commit_wakes_the_relay_before_its_next_poll(listening_store: Store) -> None:
    """The NOTIFY sent with the row at COMMIT wakes the idle relay (its poll is minutes away)."""
    recorder = Recorder()
    relay = listening_store.relay([recorder], listen=True, poll_interval=POLL)
    async with relay:
        assert relay.listening
        await relay.wait_idle(10)  # the first pass is over: only a wake-up can find the row
        [event] = await listening_store.write([("order.placed", {"n": 1})])
        await eventually(lambda: _seen(recorder))
    assert recorder.ids == [event.id]


async def test_the_listener_reconnects_after_its_connection_is_killed(
    listening_store: Store,
) -> None:
    """pg_terminate_backend on the LISTEN session: the relay listens again and is woken."""
    recorder = Recorder()
    relay = listening_store.relay([recorder], listen=True, poll_interval=POLL)
    async with relay:
        await relay.wait_idle(10)
        ours = f"LISTEN %{listening_store.table.schema}%"  # this test's schema only
        killed = await listening_store.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE :ours"
            ).bindparams(ours=ours)
        )
        assert [row[0] for row in killed] == [True]
        await eventually(lambda: _not_listening(relay))
        await eventually(lambda: _listening(relay))
        await relay.wait_idle(10)
        [event] = await listening_store.write([("order.placed", {"n": 2})])
        await eventually(lambda: _seen(recorder))
    assert recorder.ids == [event.id]


async def _seen(recorder: Recorder) -> bool:
    return bool(recorder.events)


async def _listening(relay: object) -> bool:
    return bool(relay.listening)  # type: ignore[attr-defined]


async def _not_listening(relay: object) -> bool:
    return not relay.listening  # type: ignore[attr-defined]
