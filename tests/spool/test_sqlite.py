"""The SQLite spool: written before handlers, marked per handler, replayed after a crash,
never replaying what a live sibling worker still handles. Counted by event id."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.spool import SQLiteSpool
from tests.accounting import Ledger

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent.parent
COUNT = 20


def rows(path: Path) -> list[tuple[str, int]]:
    """(event id, pending bitmask) of every row, in spool order."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, pending FROM events ORDER BY seq").fetchall()


def recorder(seen: list[Event]) -> LocalHandler:
    handler = LocalHandler()
    handler.register(lambda event: seen.append(event))
    return handler


async def wait_for(predicate: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def start_worker(spool: Path, out: Path) -> subprocess.Popen[bytes]:
    out.mkdir()
    cmd = [sys.executable, "-m", "tests.spool.worker", str(spool), str(out), str(COUNT)]
    worker = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 20
    while not (out / "ready").exists():
        assert worker.poll() is None and time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.02)
    return worker


def recorded(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(line.split()[0], int(line.split()[1])) for line in path.read_text().splitlines()]


async def test_events_are_written_before_handlers_and_removed_when_done(tmp_path: Path) -> None:
    """A handler finds its event in the spool file; once every handler is done it is gone."""
    path = tmp_path / "spool.db"
    seen_in_spool: list[bool] = []
    handler = LocalHandler()

    @handler.register
    async def check(event: Event) -> None:
        seen_in_spool.append(event.id in {event_id for event_id, _ in rows(path)})

    async with event_scope(handlers=[handler], spool=SQLiteSpool(path)):
        for n in range(3):
            dispatch("job.run", {"n": n})
    assert seen_in_spool == [True, True, True]
    assert rows(path) == []


async def test_a_killed_worker_is_replayed_to_the_handlers_it_owed(tmp_path: Path) -> None:
    """kill -9 mid-batch: the next start replays, in order, with the original ids and only
    to the handler that had not finished; the live worker's events are not replayed early."""
    path, out = tmp_path / "spool.db", tmp_path / "worker"
    worker = start_worker(path, out)
    first, second = [], []
    spool = SQLiteSpool(path, lease=0.5)
    async with event_scope(handlers=[recorder(first), recorder(second)], spool=spool):
        await asyncio.sleep(1.5)  # three leases while the worker is alive (and heartbeats)
        assert (first, second) == ([], []), "a live worker's events were replayed"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert await wait_for(lambda: len(second) >= COUNT - COUNT // 2)
    handled_there = recorded(out / "second")
    assert first == [], "the first handler had finished every event before the kill"
    assert [n for _, n in handled_there] == list(range(COUNT // 2))
    replayed = [(event.id, event.payload["n"]) for event in second]
    assert [n for _, n in replayed] == list(range(COUNT // 2, COUNT))  # in order
    assert {i for i, _ in replayed}.isdisjoint(i for i, _ in handled_there)
    assert {i for i, _ in replayed} | {i for i, _ in handled_there} == {
        i for i, _ in recorded(out / "first")
    }
    assert rows(path) == []


async def test_a_shutdown_timeout_leaves_events_in_the_spool_not_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Events cut off by the shutdown timeout stay spooled (not passed to on_error) and the
    next start handles them."""
    path, ledger = tmp_path / "spool.db", Ledger()
    stuck = LocalHandler()

    @stuck.register
    async def slow(event: Event) -> None:
        await asyncio.sleep(0.05)
        ledger.handled.append(event.id)

    middleware = EventHandlerASGIMiddleware(
        None,  # type: ignore[arg-type]
        handlers=[stuck],
        middleware_id=901,
        on_error=ledger.on_error,
        shutdown_timeout=0.1,
        spool=SQLiteSpool(path),
    )
    await middleware.pipeline.start()
    for n in range(20):
        dispatch("job.run", {"n": n}, middleware_id=901)
    await middleware.pipeline.shutdown()
    assert ledger.reported == []
    left = len(rows(path))
    assert left > 0 and len(ledger.handled) + left == 20
    seen: list[Event] = []
    async with event_scope(handlers=[recorder(seen)], spool=SQLiteSpool(path)):
        pass
    ledger.handled.extend(event.id for event in seen)
    ledger.assert_exact(20)
    assert "stay in the spool" in caplog.text


async def test_a_full_spool_handles_without_durability_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond max_events the events are still handled, and a WARNING says the spool is full."""
    seen: list[Event] = []
    with caplog.at_level(logging.WARNING, logger="fastapi_events"):
        async with event_scope(
            handlers=[recorder(seen)], spool=SQLiteSpool(tmp_path / "s.db", max_events=3)
        ):
            for n in range(5):
                dispatch("job.run", {"n": n})
    assert [event.payload["n"] for event in seen] == [0, 1, 2, 3, 4]
    assert "is full" in caplog.text


@pytest.mark.parametrize(
    "options", [{"max_events": 0}, {"max_events": "10"}, {"lease": 0}, {"lease": "30"}]
)
def test_bad_spool_options_fail_at_construction(tmp_path: Path, options: Any) -> None:
    """max_events and lease are checked when the spool is built."""
    with pytest.raises(ConfigurationError):
        SQLiteSpool(tmp_path / "s.db", **options)


def test_a_spool_that_is_not_a_spool_is_rejected() -> None:
    """spool= takes a Spool, named in the error."""
    with pytest.raises(ConfigurationError, match="spool must be"):
        EventHandlerASGIMiddleware(None, handlers=[], spool="events.db")  # type: ignore[arg-type]
