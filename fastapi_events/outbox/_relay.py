"""``OutboxRelay``: publishes committed outbox rows to handlers, with leases and retries."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .._checks import check_count, check_seconds, validate_handlers
from .._redact import capped_repr
from .._reporting import ErrorHook
from .._service import Service
from ..errors import ConfigurationError
from ..handlers.base import BaseEventHandler
from ._database import Database
from ._listen import Listener
from ._metrics import StatsGauges
from ._publish import (
    Backoff,
    bury,
    close_handlers,
    decide,
    exhausted,
    publish,
    start_handlers,
)
from ._rows import claim, settle, table_stats, utcnow
from ._table import DEFAULT_OUTBOX, Outbox
from ._wakeup import Wakeup

__all__ = ["OutboxRelay", "OutboxStats", "read_stats"]

logger = logging.getLogger("fastapi_events.outbox")


@dataclass(frozen=True)
class OutboxStats:
    """The outbox's state: ``depth`` pending rows (in flight included), the age in seconds
    of the oldest one (``None`` when there is none) and the ``dead`` rows.

    .. versionadded:: 1.0
    """

    depth: int
    oldest_pending_age: float | None
    dead: int


async def read_stats(database: Database, outbox: Outbox) -> OutboxStats:
    """The :class:`OutboxStats` of ``outbox`` in ``database``."""
    depth, oldest, dead = await database.run(table_stats, outbox.table)
    age = None if oldest is None else max((utcnow() - oldest).total_seconds(), 0.0)
    return OutboxStats(depth=depth, oldest_pending_age=age, dead=dead)


class OutboxRelay(Service):
    """Publishes committed outbox rows, oldest first, to ``handlers``.

    Each batch is claimed in a short transaction (rows leased to this relay: on PostgreSQL
    with ``FOR UPDATE SKIP LOCKED``, so parallel relays share the work and never take the
    same row; SQLite serialises claims, so run one relay there), published outside it
    through an event scope, then marked. A row is published once no handler reported a
    failure for its event; otherwise it is retried after an exponential backoff with
    jitter stored in the row, and after ``max_attempts`` it is dead: status ``dead``, the
    event goes to ``dead_letter`` and ``on_error``. A relay that dies leaves its leases to
    expire; another relay (or this one, restarted) then publishes those rows: delivery is
    at least once. On PostgreSQL a LISTEN connection wakes the relay as rows commit;
    elsewhere it polls every ``poll_interval`` seconds. Order is the rows' (commit order
    for transactions that do not overlap); a row waiting for a retry is overtaken by later
    ones, and a retry goes to every handler again. Events the handlers dispatch go to the
    same handlers, in memory (not through the outbox).

    Args:
        engine: a SQLAlchemy ``Engine`` (used from a worker thread) or ``AsyncEngine``.
        handlers: the handler objects every event goes to (local handlers, forwarders);
            the relay starts (``astart``) and closes (``aclose``) them.
        outbox: the :class:`~fastapi_events.outbox.Outbox` to read (the default table).
        batch_size: rows claimed and published at once.
        poll_interval: seconds between polls when nothing wakes the relay.
        lease: seconds a claimed row stays leased; renewed while its batch publishes.
        max_attempts: attempts before a row is dead (a claim counts, so a row that keeps
            killing its relay dies too).
        backoff: the first retry's delay bound in seconds, doubled per failed attempt...
        max_backoff: ...up to this bound (300 s, or ``backoff`` if that is more).
        dead_letter: a handler object that receives each dead event.
        on_error: ``on_error(event, handler, exception)``, called once per dead event
            with its last failure.
        listen: LISTEN for the outbox's NOTIFY on PostgreSQL.
        owner: the lease owner's name; host, pid and a random suffix by default.
        tracer_provider: OpenTelemetry tracer provider for the handler spans.
        meter_provider: OpenTelemetry meter provider.

    Example::

        relay = OutboxRelay(engine, handlers=[SQSForwardHandler(queue_url=url)])
        app = FastAPI(lifespan=relay.lifespan)  # or: async with relay: ...

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        engine: sa.Engine | AsyncEngine,
        handlers: Iterable[BaseEventHandler],
        *,
        outbox: Outbox | None = None,
        batch_size: int = 100,
        poll_interval: float = 5.0,
        lease: float = 30.0,
        max_attempts: int = 10,
        backoff: float = 1.0,
        max_backoff: float | None = None,
        dead_letter: BaseEventHandler | None = None,
        on_error: ErrorHook | None = None,
        listen: bool = True,
        owner: str | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        self._db = Database(engine)
        self.handlers = validate_handlers(handlers)
        if not self.handlers:
            raise ConfigurationError("OutboxRelay needs at least one handler: handlers=[...]")
        if dead_letter is not None:
            validate_handlers([dead_letter])
        if on_error is not None and not callable(on_error):
            raise ConfigurationError(f"on_error must be callable, got {capped_repr(on_error)}")
        self.outbox = DEFAULT_OUTBOX if outbox is None else outbox
        self.batch_size = check_count("batch_size", batch_size)
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.lease = check_seconds("lease", lease)
        self.max_attempts = check_count("max_attempts", max_attempts)
        first = check_seconds("backoff", backoff, zero=True)
        cap = max(first, 300.0) if max_backoff is None else max_backoff
        if check_seconds("max_backoff", cap, zero=True) < first:
            raise ConfigurationError(f"max_backoff must be >= backoff ({first}s)")
        self.backoff = Backoff(first, cap)
        self.dead_letter = dead_letter
        self.on_error = on_error
        self.listen = listen
        self.owner = owner or f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._scope_options = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
        self._gauges: StatsGauges | None = None
        self._task: asyncio.Task[None] | None = None
        self._listener: Listener | None = None
        self._wakeup = Wakeup()
        self._stopping = False

    def __repr__(self) -> str:
        return f"OutboxRelay(owner={self.owner!r}, outbox={self.outbox!r})"

    @property
    def listening(self) -> bool:
        """True while a PostgreSQL LISTEN connection wakes this relay."""
        return self._listener is not None and self._listener.listening

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the handlers, the LISTEN connection and the relay loop.

        Raises:
            ConfigurationError: already started, or the database cannot run the relay.
        """
        if self._task is not None:
            raise ConfigurationError(f"{self!r} is already running")
        self._db.check_relay_support()
        self._wakeup = Wakeup()  # its events belong to this loop
        if self._gauges is None:
            interval = min(max(self.poll_interval, 1.0), 60.0)
            provider = self._scope_options["meter_provider"]
            self._gauges = StatsGauges.create(provider, self.outbox.table.fullname, interval)
        await start_handlers(self._all_handlers())
        if self.listen and self._db.dialect.name == "postgresql":
            self._listener = Listener(
                self._db.url, self.outbox.channel, self._wakeup.wake, self.poll_interval
            )
            await self._listener.start(timeout=min(self.poll_interval, 5.0))
        self._stopping = False
        self._task = asyncio.create_task(self._serve(), name=f"outbox relay {self.owner}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in flight (up to ``timeout`` seconds, then cancel it), give
        back this relay's leases, stop listening and close the handlers."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wakeup.wake()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        await self._db.give_back(self.outbox.table, self.owner)
        await close_handlers(self._all_handlers())

    # --- work ----------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim, publish and settle one batch; return how many rows it had."""
        table = self.outbox.table
        claimed = await self._db.run(claim, table, self.owner, self.lease, self.batch_size)
        if not claimed:
            return 0
        failures = exhausted(claimed, self.max_attempts)
        events = [row.event for row in claimed if row.event.id not in failures]
        async with self._db.renewing(table, self.owner, self.lease):
            failures.update(await publish(events, self.handlers, **self._scope_options))
        settlement, dead = decide(claimed, failures, self.max_attempts, self.backoff)
        if dead:
            await bury(dead, self.dead_letter, self.on_error, self._scope_options)
        mine = await self._db.run(settle, table, self.owner, settlement)
        if mine < len(settlement.published):
            logger.warning(
                "outbox relay %s: %d published row(s) had been reclaimed after their lease "
                "ran out (published twice)",
                self.owner,
                len(settlement.published) - mine,
            )
        self._wakeup.retry_at(failure["new_next_attempt_at"] for failure in settlement.failed)
        return len(claimed)

    async def drain(self) -> int:
        """Run batches until no row is due (rows waiting for a retry are left); return how
        many rows were processed."""
        total = 0
        while count := await self.run_once():
            total += count
        return total

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until the running relay has found nothing more to publish.

        Raises:
            TimeoutError: still busy after ``timeout`` seconds.
        """
        await self._wakeup.wait_idle(timeout)

    async def stats(self) -> OutboxStats:
        """Count pending and dead rows and age the oldest pending one."""
        return await read_stats(self._db, self.outbox)

    # --- internals -----------------------------------------------------------------------

    def _all_handlers(self) -> list[BaseEventHandler]:
        return [*self.handlers, *([self.dead_letter] if self.dead_letter else [])]

    async def _serve(self) -> None:
        while not self._stopping:
            try:
                count = await self.run_once()
            except Exception:
                logger.exception(
                    "outbox relay %s: a batch failed; retrying in %ss",
                    self.owner,
                    self.poll_interval,
                )
                count = 0
            if self._gauges is not None:
                await self._gauges.refresh(self.stats)
            if count < self.batch_size and not self._stopping:
                await self._wakeup.sleep(self.poll_interval)
