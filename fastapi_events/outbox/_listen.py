"""PostgreSQL LISTEN: a dedicated connection that wakes the relay when a row commits.

``Outbox.add`` NOTIFYs the outbox channel in the writer's transaction, and PostgreSQL
delivers it at COMMIT, so the relay publishes without waiting for its next poll. The
connection is a raw driver connection of its own (asyncpg or psycopg 3), never a pooled
one: notifications reach a session only while it is idle outside a transaction. When it
drops, the relay keeps polling and the listener reconnects (and wakes the relay once, for
what committed meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

__all__ = ["Listener", "listener_driver"]

logger = logging.getLogger("fastapi_events.outbox")

#: Seconds between liveness checks of an asyncpg listening connection.
_PING_INTERVAL = 10.0
#: Seconds before the first reconnection; doubled per failure up to the poll interval.
_FIRST_RETRY = 0.5


def listener_driver(url: sa.URL) -> str | None:
    """The driver to LISTEN with: the engine's own if it is asyncpg or psycopg 3, else
    whichever of them is installed, else ``None`` (polling only)."""
    if url.get_backend_name() != "postgresql":
        return None
    driver = url.get_driver_name()
    if driver in ("asyncpg", "psycopg", "psycopg_async"):
        return "asyncpg" if driver == "asyncpg" else "psycopg"
    for candidate in ("psycopg", "asyncpg"):
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    return None


class Listener:
    """Calls ``wake()`` for every notification on ``channel``, reconnecting as needed."""

    def __init__(
        self, url: sa.URL, channel: str, wake: Callable[[], None], max_retry_interval: float
    ) -> None:
        self.driver = listener_driver(url)
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.channel = channel
        self._wake = wake
        self._max_retry_interval = max_retry_interval
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        #: True while a connection is listening.
        self.listening = False

    async def start(self, timeout: float) -> bool:
        """Start listening; wait up to ``timeout`` for the first connection. Returns
        whether it listens (if not, it keeps trying in the background)."""
        if self.driver is None:
            logger.warning(
                "outbox relay: no asyncpg or psycopg 3 to LISTEN on %s; polling only",
                self.channel,
            )
            return False
        self._task = asyncio.create_task(self._run(), name=f"outbox listener {self.channel}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._ready.wait()), timeout)
        return self.listening

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.listening = False

    async def _run(self) -> None:
        listen = self._listen_asyncpg if self.driver == "asyncpg" else self._listen_psycopg
        delay = _FIRST_RETRY
        while True:
            try:
                await listen()
            except Exception as exc:
                logger.warning(
                    "outbox relay: LISTEN %s failed (%s); polling, reconnecting in %.1fs",
                    self.channel,
                    type(exc).__name__,
                    min(delay, self._max_retry_interval),
                )
            if self.listening:
                delay = _FIRST_RETRY  # it had worked: try again soon
            self.listening = False
            self._ready.set()
            await asyncio.sleep(min(delay, self._max_retry_interval))
            delay *= 2

    def _connected(self) -> None:
        self.listening = True
        self._ready.set()
        self._wake()  # rows committed while no connection listened

    async def _listen_asyncpg(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(self._dsn)
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        try:
            await connection.add_listener(self.channel, self._notified)
            self._connected()
            while not closed.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(closed.wait(), _PING_INTERVAL)
                if not closed.is_set():
                    await connection.fetchval("SELECT 1")  # raises if the server is gone
            raise ConnectionResetError("the server closed the LISTEN connection")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close(timeout=2))

    def _notified(self, *args: Any) -> None:
        self._wake()

    async def _listen_psycopg(self) -> None:
        import psycopg
        from psycopg import sql

        connection = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        async with connection:
            await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._connected()
            async for _ in connection.notifies():
                self._wake()
        raise ConnectionResetError("the server closed the LISTEN connection")
