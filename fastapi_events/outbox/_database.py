"""Running the relay's short transactions on a sync or an async engine, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .._redact import capped_repr
from ..errors import ConfigurationError
from ._rows import extend_leases, release_leases

__all__ = ["Database"]

logger = logging.getLogger("fastapi_events.outbox")

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """One engine, sync (its calls run in a worker thread) or async (``run_sync``)."""

    def __init__(self, engine: sa.Engine | AsyncEngine) -> None:
        if not isinstance(engine, (sa.Engine, AsyncEngine)):
            raise ConfigurationError(
                f"engine must be a SQLAlchemy Engine or AsyncEngine, got {capped_repr(engine)}; "
                "pass create_engine(url) or create_async_engine(url)"
            )
        self.engine = engine
        self.url = engine.url
        self.dialect = engine.dialect

    def check_relay_support(self) -> None:
        """Raise unless the database can run the relay's claim (UPDATE ... RETURNING)."""
        if not self.dialect.update_returning:
            raise ConfigurationError(
                f"the outbox relay needs UPDATE ... RETURNING, which {self.dialect.name} "
                "does not have here; use PostgreSQL or SQLite >= 3.35"
            )

    async def run(
        self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``fn(connection, *args)`` in a transaction of its own, committed if it returns."""
        engine = self.engine

        def bound(connection: sa.Connection) -> T:
            return fn(connection, *args, **kwargs)

        if isinstance(engine, AsyncEngine):
            async with engine.begin() as connection:
                return await connection.run_sync(bound)
        return await asyncio.to_thread(_in_transaction, engine, bound)

    @contextlib.asynccontextmanager
    async def renewing(self, table: sa.Table, owner: str, lease: float) -> AsyncIterator[None]:
        """Extend ``owner``'s leases every third of ``lease`` while the block runs, so a
        long batch keeps its rows (a failed renewal is logged)."""
        task = asyncio.create_task(self._renew(table, owner, lease))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _renew(self, table: sa.Table, owner: str, lease: float) -> None:
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self.run(extend_leases, table, owner, lease)
            except Exception as exc:
                logger.warning(
                    "outbox relay %s: renewing leases failed (%s)", owner, type(exc).__name__
                )

    async def give_back(self, table: sa.Table, owner: str) -> None:
        """Release ``owner``'s unpublished rows (the attempt does not count); log how many,
        or the failure."""
        try:
            released = await self.run(release_leases, table, owner)
        except Exception:
            logger.exception("outbox relay %s: giving back its leases failed", owner)
            return
        if released:
            logger.warning("outbox relay %s stopped with %d row(s) unpublished", owner, released)


def _in_transaction(engine: sa.Engine, fn: Callable[[sa.Connection], T]) -> T:
    with engine.begin() as connection:
        return fn(connection)
