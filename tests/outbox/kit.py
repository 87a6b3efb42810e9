"""What the outbox tests share: an outbox on a real database, and recording handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from fastapi_events.handlers.base import BaseEventHandler
from fastapi_events.outbox import Outbox, OutboxRelay
from fastapi_events.typing import Event

__all__ = ["KINDS", "Recorder", "Store", "close_store", "eventually", "open_store"]

#: The databases every outbox behaviour is tested on: SQLite (sync engine), PostgreSQL
#: through psycopg 3 (sync engine) and through asyncpg (async engine).
KINDS = ["sqlite", "psycopg", "asyncpg"]


@dataclass
class Store:
    """An outbox on one database (a sync or an async engine) and ways to write to it."""

    kind: str
    engine: sa.Engine | AsyncEngine
    outbox: Outbox
    url: str

    @property
    def table(self) -> sa.Table:
        return self.outbox.table

    async def write(
        self, events: Sequence[tuple[str, Any]], *, rollback: bool = False
    ) -> list[Event]:
        """Add ``events`` in one transaction (with a business row), committed or rolled back."""
        if isinstance(self.engine, AsyncEngine):
            async with AsyncSession(self.engine) as session:
                written = [await self.outbox.add_async(session, n, p) for n, p in events]
                await (session.rollback() if rollback else session.commit())
            return written
        return await asyncio.to_thread(self._write_sync, events, rollback)

    def _write_sync(self, events: Sequence[tuple[str, Any]], rollback: bool) -> list[Event]:
        assert isinstance(self.engine, sa.Engine)
        with Session(self.engine) as session:
            written = [self.outbox.add(session, n, p) for n, p in events]
            session.rollback() if rollback else session.commit()
        return written

    async def rows(self) -> list[Any]:
        """Every row of the outbox table, by id."""
        return await self.execute(sa.select(self.table).order_by(self.table.c.id))

    async def execute(self, statement: Any) -> list[Any]:
        """Run ``statement`` in a transaction of its own; its rows (if it returns any)."""
        if isinstance(self.engine, AsyncEngine):
            async with self.engine.begin() as connection:
                result = await connection.execute(statement)
                return list(result.all()) if result.returns_rows else []
        return await asyncio.to_thread(self._execute_sync, statement)

    def _execute_sync(self, statement: Any) -> list[Any]:
        assert isinstance(self.engine, sa.Engine)
        with self.engine.begin() as connection:
            result = connection.execute(statement)
            return list(result.all()) if result.returns_rows else []

    def relay(self, handlers: Sequence[BaseEventHandler], **options: Any) -> OutboxRelay:
        """A relay of this outbox (no LISTEN unless asked, short polls)."""
        options.setdefault("listen", False)
        options.setdefault("poll_interval", 0.05)
        return OutboxRelay(self.engine, handlers, outbox=self.outbox, **options)


@dataclass
class Recorder(BaseEventHandler):
    """Records every event it is given; ``fail(event) -> bool`` makes it raise."""

    fail: Callable[[Event], bool] = lambda event: False
    events: list[Event] = field(default_factory=list)
    failures: int = 0

    async def handle(self, event: Event) -> None:
        if self.fail(event):
            self.failures += 1
            raise ConnectionError("the broker is unreachable")
        self.events.append(event)

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Wait until ``await check()`` is true; fail after ``timeout`` seconds (a deadline
    for a hung test, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"still not true after {timeout}s"
        await asyncio.sleep(0.02)


async def open_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An outbox table on a new database of ``kind``, created."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'outbox.db'}"
        outbox = Outbox()
    else:
        base = sa.make_url(request.getfixturevalue("postgres_url"))
        url = base.set(drivername=f"postgresql+{kind}").render_as_string(hide_password=False)
        outbox = Outbox(schema=request.getfixturevalue("pg_schema"))
    if kind == "asyncpg":
        engine: sa.Engine | AsyncEngine = create_async_engine(url)
        await outbox.create_table_async(engine)
    else:
        engine = sa.create_engine(url)
        outbox.create_table(engine)
    return Store(kind, engine, outbox, url)


async def close_store(store: Store) -> None:
    """Dispose of the store's engine."""
    if isinstance(store.engine, AsyncEngine):
        await store.engine.dispose()
    else:
        store.engine.dispose()
