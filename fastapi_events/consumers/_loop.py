"""One run of a consumer: the receive loop, the messages in flight, and the graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import Any

from ._delivery import Delivery
from ._eager import run_eagerly
from ._handling import RELEASE, RETRY, Handling
from ._settle import Settler

__all__ = ["SETTLE_GRACE", "Loop"]

logger = logging.getLogger("fastapi_events.consumers")

#: Seconds the last acknowledgements may take at shutdown, even past the timeout: an
#: acknowledgement not sent means a handled message is delivered again.
SETTLE_GRACE = 5.0
_MAX_PAUSE = 30.0
_FIRST = asyncio.FIRST_COMPLETED


class Loop:
    """Receives while there is room, handles the deliveries, settles each one.

    A received batch is handled by one task, one delivery after another, until one of them
    waits: the rest goes on in a new task (see ``_eager``), so deliveries still run
    concurrently, up to ``concurrency`` at once.
    """

    def __init__(self, consumer: Any, handling: Handling, settler: Settler) -> None:
        self.consumer = consumer
        self.handling = handling
        self.settler = settler
        self.stopped = asyncio.Event()
        #: Each handling task, and the deliveries of its batch it has not started yet.
        self._tasks: dict[asyncio.Task[None], deque[Delivery]] = {}
        self._in_flight = 0  # deliveries received and not settled yet
        self._wake = asyncio.Event()  # a task finished, or stop() was (called) again
        self._stopping = asyncio.Event()
        self._deadline = math.inf
        self._late: list[asyncio.Task[list[Delivery]]] = []  # receives open at stop
        self._reserved = 0  # room the receives in flight asked for
        self.serving: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start receiving, in a task with a context of its own (no caller's request or
        event scope leaks into the handlers)."""
        loop = asyncio.get_running_loop()
        self.serving = contextvars.Context().run(
            loop.create_task, self._serve(), name=f"consumer {self.consumer.describe()}"
        )
        self.serving.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "%s: the receive loop failed; no more messages are received",
                self.consumer.describe(),
                exc_info=task.exception(),
            )

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping.is_set()

    def remaining(self) -> float:
        """Seconds left before the stop's deadline."""
        return max(self._deadline - asyncio.get_running_loop().time(), 0.0)

    async def stop(self, timeout: float) -> bool:
        """Stop within ``timeout`` seconds; ``False`` if another call is already stopping
        (after the deadline is shortened to this call's and that call has finished)."""
        self._deadline = min(self._deadline, asyncio.get_running_loop().time() + timeout)
        self._wake.set()
        if self._stopping.is_set():
            await self.stopped.wait()
            return False
        self._stopping.set()
        if self.serving is not None:
            await asyncio.gather(self.serving, return_exceptions=True)
        await self._until_done(self._tasks)
        self._cancel_in_flight()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._give_back_late_receives()
        await self.settler.drain(max(self.remaining(), SETTLE_GRACE))
        return True

    # --- receiving -----------------------------------------------------------------------

    async def _serve(self) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())  # one waiter for every receive
        receivers = max(1, self.consumer.receives_in_flight)
        try:
            await asyncio.gather(*(self._receive_while_room(stop) for _ in range(receivers)))
        finally:
            stop.cancel()

    async def _receive_while_room(self, stop: asyncio.Future[Any]) -> None:
        failures = 0
        while room := await self._room():
            try:
                deliveries = self.consumer.ready(room) or await self._receive(room, stop)
            except Exception:
                self._unreserve(room)
                failures += 1
                pause = min(_MAX_PAUSE, 0.5 * 2.0 ** min(failures, 6))
                logger.exception(
                    "%s: receiving failed; trying again in %.1fs", self.consumer.describe(), pause
                )
                await self._pause(pause)
                continue
            except BaseException:
                self._unreserve(room)
                raise
            failures = 0
            self._unreserve(room)
            if deliveries:
                self.consumer.stats.received += len(deliveries)
                self._in_flight += len(deliveries)
                self._start(deque(deliveries))

    async def _room(self) -> int:
        """How many more messages one receive may ask for (reserved until it returns:
        receives in flight together never ask for more than ``concurrency``); 0 once
        stopping."""
        while not self._stopping.is_set():
            free: int = self.consumer.concurrency - self._in_flight - self._reserved
            if free > 0:
                batch = self.consumer.receive_batch
                room = free if batch is None else min(free, batch)
                self._reserved += room
                return room
            self._wake.clear()
            await self._wake.wait()
        return 0

    def _unreserve(self, room: int) -> None:
        self._reserved -= room
        self._wake.set()  # another receiver may have room now

    async def _receive(self, room: int, stop: asyncio.Future[Any]) -> list[Delivery]:
        """One receive, given up on (kept for :meth:`stop`) if stopping comes first."""
        receiving: asyncio.Task[list[Delivery]] = asyncio.create_task(self.consumer.receive(room))
        try:
            await asyncio.wait({receiving, stop}, return_when=_FIRST)
        except asyncio.CancelledError:
            self._late.append(receiving)
            raise
        if not receiving.done():
            self._late.append(receiving)
            return []
        return receiving.result()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # --- handling ------------------------------------------------------------------------

    def _start(self, batch: deque[Delivery]) -> None:
        task = asyncio.create_task(self._handle(batch))
        self._tasks[task] = batch
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        # Deliveries not started: the task was cancelled before it ran (at shutdown).
        self._release_unstarted(self._tasks.pop(task))
        self._wake.set()

    async def _handle(self, batch: deque[Delivery]) -> None:
        """Handle ``batch`` in this task while its deliveries finish without waiting."""
        hand_over = self._hand_over_from(batch)
        while batch:
            delivery = batch.popleft()
            try:
                await run_eagerly(self._process(delivery), hand_over)
            finally:
                self._in_flight -= 1
                self._wake.set()

    def _hand_over_from(self, batch: deque[Delivery]) -> Callable[[], None]:
        def hand_over() -> None:  # the delivery being handled waits: the rest goes on
            if batch:
                self._start(deque(batch))
                batch.clear()

        return hand_over

    async def _process(self, delivery: Delivery | None) -> None:
        """Handle ``delivery``, then whatever the consumer hands over after it."""
        while delivery is not None:
            try:
                verdict, delay = await self.handling(delivery)
            except asyncio.CancelledError:
                self.settler.add(delivery, RELEASE)  # never acknowledged unhandled
                self._release(self.consumer.next_after(delivery))
                raise
            except Exception:
                logger.exception(
                    "%s: message %s could not be handled; retried",
                    self.consumer.describe(),
                    delivery.message_id,
                )
                verdict, delay = RETRY, self.handling.backoff.delay(delivery.deliveries)
            self.settler.add(delivery, verdict, delay)
            delivery = self.consumer.next_after(delivery)
            if delivery is not None:
                self.consumer.stats.received += 1
                if self._stopping.is_set():
                    self.settler.add(delivery, RELEASE)
                    return

    def _release(self, delivery: Delivery | None) -> None:
        if delivery is not None:
            self.consumer.stats.received += 1
            self.settler.add(delivery, RELEASE)

    def _release_unstarted(self, deliveries: Iterable[Delivery]) -> None:
        for delivery in deliveries:
            self._in_flight -= 1
            self.settler.add(delivery, RELEASE)
            self._release(self.consumer.next_after(delivery))

    # --- stopping ------------------------------------------------------------------------

    async def _until_done(self, tasks: Collection[asyncio.Future[Any]]) -> None:
        """Wait until every one of ``tasks`` is done or the deadline (which a second
        :meth:`stop` may shorten) has passed."""
        while (pending := [t for t in tasks if not t.done()]) and (left := self.remaining()) > 0:
            self._wake.clear()
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({*pending, woken}, timeout=left, return_when=_FIRST)
            finally:
                woken.cancel()

    def _cancel_in_flight(self) -> None:
        if not self._tasks:
            return
        logger.warning(
            "%s: %d message(s) still in flight at the shutdown deadline: cancelled and given "
            "back unhandled, for redelivery",
            self.consumer.describe(),
            self._in_flight,
        )
        for task in self._tasks:
            task.cancel()

    async def _give_back_late_receives(self) -> None:
        """What the receives still open at stop return is given back unhandled."""
        late, self._late = self._late, []
        if late and self.consumer.wait_for_open_receive:
            await self._until_done(late)
        for receiving in late:
            if not receiving.done():
                self.consumer.abandon(receiving)
            elif not receiving.cancelled() and receiving.exception() is None:
                for delivery in receiving.result():  # (a failed receive received nothing)
                    self.consumer.stats.received += 1
                    self.settler.add(delivery, RELEASE)
