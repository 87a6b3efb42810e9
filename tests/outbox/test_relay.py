"""OutboxRelay: committed rows published in order, retries with backoff, dead letters,
leases shared by parallel relays, stats, lifecycle."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from fastapi_events.errors import ConfigurationError, OutboxRelayLostError
from fastapi_events.outbox import DEAD, PENDING, PUBLISHED, OutboxRelay
from fastapi_events.outbox._rows import claim
from tests.outbox.kit import Recorder, Store, eventually

pytestmark = pytest.mark.anyio


def by_event_id(rows: list[Any]) -> dict[str, Any]:
    return {row.event_id: row for row in rows}


async def test_committed_events_go_out_in_commit_order_and_rolled_back_ones_never(
    store: Store,
) -> None:
    """Committed events all reach the handler in commit order; rolled-back ones never."""
    first = await store.write([("order.placed", {"n": 1}), ("order.paid", {"n": 2})])
    await store.write([("order.cancelled", {"n": 99})], rollback=True)
    second = await store.write([("order.shipped", {"n": 3})])
    recorder = Recorder()

    assert await store.relay([recorder]).drain() == 3

    assert recorder.ids == [event.id for event in first + second]
    assert [(e.key, e.payload) for e in recorder.events] == [
        ("order.placed", {"n": 1}),
        ("order.paid", {"n": 2}),
        ("order.shipped", {"n": 3}),
    ]
    assert [e.timestamp for e in recorder.events] == [e.timestamp for e in first + second]
    assert [row.status for row in await store.rows()] == [PUBLISHED] * 3


async def test_a_failing_event_is_retried_then_dead_lettered_exactly_once(store: Store) -> None:
    """Each event ends published or dead, never both: the poisoned one after max_attempts."""
    flaky = Recorder(fail=lambda event: event.key == "poison")
    graveyard, reported = Recorder(), []
    ok1, poison, ok2 = await store.write(
        [("ok.1", {}), ("poison", {"card": "4111-1111"}), ("ok.2", {})]
    )
    relay = store.relay(
        [flaky],
        max_attempts=3,
        backoff=0,
        max_backoff=0,
        dead_letter=graveyard,
        on_error=lambda event, handler, exc: reported.append((event.id, handler, type(exc))),
    )

    await relay.drain()

    assert flaky.failures == 3
    assert flaky.ids == [ok1.id, ok2.id]
    assert graveyard.ids == [poison.id]
    assert reported == [(poison.id, flaky, ConnectionError)]
    rows = by_event_id(await store.rows())
    assert (rows[poison.id].status, rows[poison.id].attempts) == (DEAD, 3)
    assert rows[poison.id].last_error == "builtins.ConnectionError: the broker is unreachable"
    assert {rows[ok1.id].status, rows[ok2.id].status} == {PUBLISHED}
    assert (await relay.stats()).dead == 1


async def test_an_event_that_recovers_is_published_and_never_dead_lettered(store: Store) -> None:
    """Two failures then success: published once, attempts counted, no dead letter or on_error."""
    calls: list[str] = []

    def fail_twice(event: Any) -> bool:
        calls.append(event.id)
        return len(calls) <= 2

    flaky, graveyard, reported = Recorder(fail=fail_twice), Recorder(), []
    [event] = await store.write([("order.placed", {"n": 1})])
    relay = store.relay(
        [flaky],
        max_attempts=3,
        backoff=0,
        max_backoff=0,
        dead_letter=graveyard,
        on_error=lambda *args: reported.append(args),
    )

    await relay.drain()

    assert (flaky.ids, graveyard.ids, reported) == ([event.id], [], [])
    [row] = await store.rows()
    assert (row.status, row.attempts, row.last_error) == (PUBLISHED, 3, None)


async def test_a_row_whose_relay_died_on_its_last_attempt_is_dead_without_another(
    store: Store,
) -> None:
    """Claims count as attempts: an event that keeps killing its relay ends dead, unpublished."""
    [event] = await store.write([("poison", {})])
    await store.execute(sa.update(store.table).values(attempts=3))  # three claims, no outcome
    handler, graveyard, reported = Recorder(), Recorder(), []
    relay = store.relay(
        [handler],
        max_attempts=3,
        dead_letter=graveyard,
        on_error=lambda event, handler, exc: reported.append((event.id, handler, type(exc))),
    )

    await relay.drain()

    assert (handler.ids, graveyard.ids) == ([], [event.id])
    assert reported == [(event.id, None, OutboxRelayLostError)]
    [row] = await store.rows()
    assert (row.status, row.attempts) == (DEAD, 4)
    assert row.last_error.startswith("fastapi_events.errors.OutboxRelayLostError: the relay")


async def test_backoff_is_stored_in_the_row_and_holds_it_back(store: Store) -> None:
    """After a failure the row waits between half and all of the backoff, then is not claimed."""
    await store.write([("order.placed", {})])
    relay = store.relay([Recorder(fail=lambda event: True)], backoff=60, max_backoff=600)
    before = datetime.now(timezone.utc)

    assert await relay.run_once() == 1
    after = datetime.now(timezone.utc)

    [row] = await store.rows()
    retry_at = row.next_attempt_at.replace(tzinfo=timezone.utc)
    assert (row.status, row.attempts, row.lease_owner) == (PENDING, 1, None)
    assert before + timedelta(seconds=30) <= retry_at <= after + timedelta(seconds=60)
    assert await relay.run_once() == 0


async def test_a_row_leased_by_a_dead_relay_is_published_once_the_lease_runs_out(
    store: Store,
) -> None:
    """Rows a relay claimed before dying are skipped while leased, then reclaimed."""
    events = await store.write([("a", {}), ("b", {})])
    if isinstance(store.engine, sa.Engine):
        with store.engine.begin() as connection:
            claim(connection, store.table, "ghost", 0.5, 10)
    else:
        async with store.engine.begin() as connection:
            await connection.run_sync(claim, store.table, "ghost", 0.5, 10)
    recorder = Recorder()
    relay = store.relay([recorder])

    assert await relay.drain() == 0
    await eventually(lambda: _published(relay, recorder, 2))

    assert recorder.ids == [event.id for event in events]


async def _published(relay: OutboxRelay, recorder: Recorder, count: int) -> bool:
    await relay.drain()
    return len(recorder.events) >= count


async def test_two_relays_on_postgresql_publish_each_of_500_rows_exactly_once(
    pg_store: Store,
) -> None:
    """FOR UPDATE SKIP LOCKED leases: two relays in parallel share 500 rows, none twice."""
    written = []
    for start in range(0, 500, 100):
        written += await pg_store.write([("bulk", {"n": n}) for n in range(start, start + 100)])
    one, two = SlowRecorder(), SlowRecorder()
    relays = [pg_store.relay([one], batch_size=20), pg_store.relay([two], batch_size=20)]

    await asyncio.gather(*(relay.drain() for relay in relays))

    published = one.ids + two.ids
    assert sorted(published) == sorted(event.id for event in written)
    assert len(set(published)) == 500
    assert one.events and two.events  # both took part
    assert (await relays[0].stats()).depth == 0


async def test_two_relays_on_sqlite_never_publish_a_row_twice(sqlite_store: Store) -> None:
    """SQLite serialises claims (one writer): two relays still publish each row once."""
    written = await sqlite_store.write([("bulk", {"n": n}) for n in range(200)])
    one, two = SlowRecorder(), SlowRecorder()
    relays = [sqlite_store.relay([r], batch_size=10) for r in (one, two)]

    await asyncio.gather(*(relay.drain() for relay in relays))

    assert sorted(one.ids + two.ids) == sorted(event.id for event in written)


class SlowRecorder(Recorder):
    """A recorder that yields to the event loop per batch, as a network send would."""

    async def handle_many(self, events: Any) -> None:
        await asyncio.sleep(0.002)
        await super().handle_many(events)


async def test_a_running_relay_publishes_rows_committed_while_it_runs(store: Store) -> None:
    """start()/stop() as an async context manager: rows committed meanwhile go out."""
    recorder = Recorder()
    async with store.relay([recorder]) as relay:
        await relay.wait_idle(10)
        [event] = await store.write([("late", {"n": 1})])
        await eventually(lambda: _seen(recorder, 1))
    assert recorder.ids == [event.id]


async def _seen(recorder: Recorder, count: int) -> bool:
    return len(recorder.events) >= count


async def test_stop_gives_back_the_leases_of_a_batch_it_had_to_abandon(
    sqlite_store: Store,
) -> None:
    """A batch still running at the stop timeout: its rows are pending again, attempt uncounted."""
    release = asyncio.Event()

    class Stuck(Recorder):
        async def handle(self, event: Any) -> None:
            await release.wait()

    await sqlite_store.write([("a", {}), ("b", {})])
    relay = sqlite_store.relay([Stuck()], lease=60)
    await relay.start()
    await eventually(lambda: _leased(sqlite_store))

    await relay.stop(timeout=0.05)

    rows = await sqlite_store.rows()
    assert [(row.status, row.lease_owner, row.attempts) for row in rows] == [(PENDING, None, 0)] * 2
    release.set()  # let the abandoned handler call end before the loop does


async def _leased(store: Store) -> bool:
    return any(row.lease_owner for row in await store.rows())


async def test_stats_count_pending_and_dead_rows_and_age_the_oldest(store: Store) -> None:
    """depth and oldest_pending_age while rows wait; zero and None once they are out."""
    relay = store.relay([Recorder()])
    empty = await relay.stats()
    await store.write([("a", {}), ("b", {})])

    waiting = await relay.stats()
    await relay.drain()
    done = await relay.stats()

    assert (empty.depth, empty.oldest_pending_age, empty.dead) == (0, None, 0)
    assert waiting.depth == 2
    assert waiting.oldest_pending_age is not None and waiting.oldest_pending_age >= 0
    assert (done.depth, done.oldest_pending_age) == (0, None)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"max_attempts": 1.5}, "max_attempts must be an int >= 1, got float"),
        ({"lease": 0}, "lease must be a finite number of seconds > 0, got 0"),
        ({"poll_interval": float("nan")}, "poll_interval must be a finite number of seconds > 0"),
        ({"backoff": 5, "max_backoff": 1}, "max_backoff must be >= backoff"),
        ({"on_error": "log"}, "on_error must be callable"),
        ({"dead_letter": print}, "handlers must be BaseEventHandler instances"),
    ],
)
def test_wrong_options_are_refused_at_construction(options: dict[str, Any], fragment: str) -> None:
    """Each bad option raises ConfigurationError naming it."""
    engine = sa.create_engine("sqlite://")
    with pytest.raises(ConfigurationError, match=fragment):
        OutboxRelay(engine, [Recorder()], **options)


def test_a_relay_needs_an_engine_and_handlers() -> None:
    """Neither an URL string nor an empty handler list is accepted."""
    with pytest.raises(ConfigurationError, match="SQLAlchemy Engine or AsyncEngine"):
        OutboxRelay("sqlite://", [Recorder()])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least one handler"):
        OutboxRelay(sa.create_engine("sqlite://"), [])
