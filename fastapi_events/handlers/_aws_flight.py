"""How many batch requests an SQS or SNS forwarder has on the wire at once, the worker
threads its boto3 calls run in, and the concurrent delivery of one drain's batches.

With a real round-trip time (SQS answers in 10-30 ms) throughput is ``max_in_flight`` x 10
events per round trip until the client's CPU is the limit (``benchmarks/forwarding_rtt.py``).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import weakref
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._redact import capped_repr
from ..errors import ConfigurationError

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "MAX_IN_FLIGHT_LIMIT", "InFlight", "deliver_concurrently"]

T = TypeVar("T")

#: Sized for a 20-30 ms round trip: 32 calls of 10 events per round trip is well above what
#: one process's CPU forwards (about 15,000 events/s in the benchmark).
DEFAULT_MAX_IN_FLIGHT = 32
#: More connections than this to one endpoint from one process helps no one.
MAX_IN_FLIGHT_LIMIT = 1024


def check_max_in_flight(value: object) -> int:
    """``value`` if it is an int from 1 to :data:`MAX_IN_FLIGHT_LIMIT`.

    Raises:
        ConfigurationError: it is not (the message names its type and the fix).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= (MAX_IN_FLIGHT_LIMIT)
    ):
        shown = capped_repr(value) if isinstance(value, int) else type(value).__name__
        raise ConfigurationError(
            f"max_in_flight must be an int from 1 to {MAX_IN_FLIGHT_LIMIT}, got {shown}; pass "
            f"e.g. max_in_flight={DEFAULT_MAX_IN_FLIGHT} (about round trip / CPU time per call)"
        )
    return value


class InFlight:
    """At most ``limit`` calls at once per event loop; blocking ones in threads of its own
    (not the loop's default executor, whose few workers others share)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()
        self._executor: ThreadPoolExecutor | None = None

    def slot(self) -> asyncio.Semaphore:
        """This loop's semaphore: ``async with flight.slot(): ...``."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore

    async def call(self, method: Callable[..., T], **kwargs: Any) -> T:
        """Run the blocking ``method(**kwargs)`` in a worker thread, within the limit."""
        async with self.slot():
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.limit, "fastapi-events-aws")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(method, **kwargs))

    def close(self) -> None:
        """Let the worker threads end once idle (a later call starts new ones)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


async def deliver_concurrently(
    batches: Iterable[T], deliver: Callable[[T], Awaitable[None]], limit: int
) -> None:
    """``deliver`` every batch, at most ``limit`` at once, batches taken from ``batches``
    (lazily encoded) only when a place is free; the first failure is raised once all are
    done. If the caller is cancelled, the deliveries started are cancelled too and waited
    for (each outlives it for its grace period). A lone batch (a small drain's) is
    delivered in the caller's task: no task is created for it."""
    remaining = iter(batches)
    head = list(itertools.islice(remaining, 2))
    if len(head) < 2:
        for batch in head:
            await deliver(batch)
        return
    await _deliver_many(itertools.chain(head, remaining), deliver, limit)


async def _deliver_many(
    batches: Iterable[T], deliver: Callable[[T], Awaitable[None]], limit: int
) -> None:
    places = asyncio.Semaphore(limit)
    running: set[asyncio.Future[None]] = set()
    failures: list[Exception] = []

    async def one(batch: T) -> None:
        try:
            await deliver(batch)
        except Exception as exc:  # the others go on; raised at the end
            failures.append(exc)
        finally:
            places.release()

    try:
        for batch in batches:
            await places.acquire()
            started = asyncio.ensure_future(one(batch))
            running.add(started)
            started.add_done_callback(running.discard)
            await asyncio.sleep(0)  # encode the next batch in another loop iteration
        while running:
            await asyncio.wait(set(running))
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(set(running))
    if failures:
        raise failures[0]
