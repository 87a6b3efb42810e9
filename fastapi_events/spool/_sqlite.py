"""The embedded spool: one SQLite file (standard library), shared by a server's workers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._event import Event
from .._json import dumps
from ..errors import ConfigurationError
from ._base import Spool, SpooledEvent
from ._commit import GroupCommit, connect

__all__ = ["SQLiteSpool"]

logger = logging.getLogger("fastapi_events.spool")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    spool TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, payload TEXT NOT NULL,
    ts REAL NOT NULL, trace_context TEXT, correlation_id TEXT,
    pending INTEGER NOT NULL, owner TEXT NOT NULL, UNIQUE (spool, id)
);
CREATE INDEX IF NOT EXISTS events_owner ON events (spool, owner, seq);
CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, heartbeat REAL NOT NULL);
"""


class SQLiteSpool(Spool):
    """A spool in one SQLite file (WAL, group commits; the standard library's ``sqlite3``).

    Each process (server worker) owns the events it writes and keeps a heartbeat; a worker
    replays only what an owner whose heartbeat stopped for ``lease`` seconds left (a
    crashed or killed sibling, or this server before a restart), never what a live
    sibling is still handling.

    Args:
        path: the database file (created with its folder if missing).
        name: separates the events of several middlewares sharing one file.
        max_events: how many unfinished events the file may hold. Beyond it, new events
            are handled without durability and a WARNING says how many (never silent).
        lease: seconds without a heartbeat after which an owner counts as dead.

    Example::

        app.add_middleware(
            EventHandlerASGIMiddleware, handlers=[...], spool=SQLiteSpool("/var/lib/app/events.db")
        )

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str = "default",
        max_events: int = 100_000,
        lease: float = 30.0,
    ) -> None:
        if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
            raise ConfigurationError(f"max_events must be an int >= 1, got {type(max_events)}")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise ConfigurationError(f"lease must be a number of seconds > 0, got {lease!r:.40}")
        self.path = Path(path)
        self.name = name
        self.max_events = max_events
        self.lease = float(lease)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._db: GroupCommit | None = None
        self._marks: list[tuple[int, str, str]] = []  # (bit, spool, event id), coalesced
        self._all_pending = 0
        self._count = 0
        self._full = False
        self._heartbeat: asyncio.Task[None] | None = None

    async def open(
        self, handler_count: int, on_orphans: Callable[[list[SpooledEvent]], None]
    ) -> None:
        """Open the file, register this owner, replay orphans now and on every heartbeat."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._all_pending = (1 << handler_count) - 1
        self._db = GroupCommit(await asyncio.to_thread(connect, str(self.path), _create_schema))
        self._count, orphans = self._db.transaction([self._register, self._claim_orphans])
        on_orphans(orphans)
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(on_orphans))

    async def write(self, events: Sequence[Event]) -> list[Event]:
        """Store ``events`` in this loop iteration's commit; return those not stored."""
        if self._db is None:
            return list(events)
        if self._count + len(events) > self.max_events:
            self._warn_full(len(events))
            return list(events)
        future = self._db.submit(lambda db: self._insert(db, events), wait=True)
        assert future is not None
        try:
            refused: list[Event] = await future
        except sqlite3.Error:
            logger.exception("spool write failed (%s): events handled without it", self.path.name)
            return list(events)
        return refused

    def done(self, events: Sequence[Event], handler_index: int) -> None:
        """Clear ``handler_index`` from the events' pending set; delete finished rows."""
        if self._db is None or not events:
            return
        bit, name = 1 << handler_index, self.name
        if not self._marks:
            self._db.submit(self._mark, wait=False)
        self._marks.extend((bit, name, event.id) for event in events)

    def holding(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are in the file, unfinished (pending marks applied first)."""
        if self._db is None or not ids:
            return set()
        self._db.flush()
        name, found = self.name, set[str]()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.connection.execute(
                f"SELECT id FROM events WHERE spool = ? AND id IN ({marks})", [name, *chunk]
            )
            found.update(row[0] for row in rows)
        return found

    async def close(self) -> None:
        """Stop the heartbeat, give up this owner (its rows are free for the next start or
        a sibling at once) and close the file."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        if self._db is not None:
            db, self._db = self._db, None
            db.flush()
            db.transaction([self._unregister])
            db.connection.close()

    # --- jobs, run inside a transaction ---------------------------------------------------

    def _unregister(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM owners WHERE owner = ?", [self.owner])

    def _register(self, db: sqlite3.Connection) -> int:
        db.execute("INSERT OR REPLACE INTO owners VALUES (?, ?)", [self.owner, time.time()])
        row = db.execute("SELECT COUNT(*) FROM events WHERE spool = ?", [self.name]).fetchone()
        return int(row[0])

    def _insert(self, db: sqlite3.Connection, events: Sequence[Event]) -> list[Event]:
        rows, refused = [], []
        for event in events:
            try:
                payload = dumps(event.payload)
            except (TypeError, ValueError, RecursionError):
                refused.append(event)
                continue
            trace = json.dumps(event.trace_context) if event.trace_context else None
            rows.append(
                (
                    self.name,
                    event.id,
                    event.key,
                    payload,
                    event.unix_time,
                    trace,
                    event.correlation_id,
                    self._all_pending,
                    self.owner,
                )
            )
        cursor = db.executemany(
            "INSERT OR IGNORE INTO events (spool, id, name, payload, ts, trace_context, "
            "correlation_id, pending, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if refused:
            logger.warning(
                "%d event(s) not spooled (payload not JSON): %s",
                len(refused),
                ", ".join(event.id for event in refused),
            )
        self._count += cursor.rowcount
        return refused

    def _mark(self, db: sqlite3.Connection) -> None:
        marks, self._marks = self._marks, []
        db.executemany("UPDATE events SET pending = pending & ~? WHERE spool = ? AND id = ?", marks)
        cursor = db.executemany(
            "DELETE FROM events WHERE spool = ? AND id = ? AND pending = 0",
            [(name, event_id) for _, name, event_id in marks],
        )
        self._count -= cursor.rowcount
        if self._full and self._count < self.max_events:
            self._full = False
            logger.warning("spool %s has room again", self.path.name)

    def _claim_orphans(self, db: sqlite3.Connection) -> list[SpooledEvent]:
        now = time.time()
        db.execute("UPDATE owners SET heartbeat = ? WHERE owner = ?", [now, self.owner])
        alive = "SELECT owner FROM owners WHERE heartbeat >= ?"
        rows = db.execute(
            "SELECT id, name, payload, ts, trace_context, correlation_id, pending FROM events "
            f"WHERE spool = ? AND owner NOT IN ({alive}) ORDER BY seq",
            [self.name, now - self.lease],
        ).fetchall()
        if rows:
            db.execute(
                f"UPDATE events SET owner = ? WHERE spool = ? AND owner NOT IN ({alive})",
                [self.owner, self.name, now - self.lease],
            )
        db.execute("DELETE FROM owners WHERE heartbeat < ?", [now - self.lease])
        return [_spooled(row) for row in rows]

    # --- on the event loop ------------------------------------------------------------------

    async def _beat(self, on_orphans: Callable[[list[SpooledEvent]], None]) -> None:
        while self._db is not None:
            await asyncio.sleep(self.lease / 3)
            db = self._db
            if db is None:
                break
            try:
                orphans = db.transaction([self._claim_orphans])[0]
            except Exception:
                logger.exception("spool heartbeat failed (%s)", self.path.name)
                continue
            if orphans:
                on_orphans(orphans)

    def _warn_full(self, count: int) -> None:
        if not self._full:
            logger.warning(
                "spool %s is full (%d unfinished events, max_events=%d): new events are "
                "handled without durability until it drains",
                self.path.name,
                self._count,
                self.max_events,
            )
        self._full = True
        logger.info("%d event(s) not spooled: the spool is full", count)


def _create_schema(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def _spooled(row: Any) -> SpooledEvent:
    event_id, name, payload, ts, trace, correlation, pending = row
    event = Event(
        name,
        json.loads(payload),
        name,
        id=event_id,
        timestamp=ts,
        trace_context=json.loads(trace) if trace else None,
        correlation_id=correlation,
    )
    bits = frozenset(index for index in range(pending.bit_length()) if pending >> index & 1)
    return SpooledEvent(event, bits)
