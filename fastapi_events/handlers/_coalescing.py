"""Cross-request batching: the messages of concurrent drains share one batch request.

Each drain still awaits and settles exactly its own events: it hands its batch to the
:class:`Coalescer` as a :class:`Ticket`, and the batch request that carries it is sent (by
a task of the coalescer's, one per request) when it is full or when ``linger`` seconds
have passed since its first message. The request's outcome goes to every ticket in it; a
drain reads its own messages' part. A drain cancelled while its ticket still waits takes
it back (nothing was sent); once sent, it waits for the answer within its grace period,
as for a send of its own.

A request of 3-event drains at 1,000 requests/s fills 10 entries in about 3 ms: a few ms
of linger make 0.1 calls per event instead of 0.33 (``benchmarks/forwarding_linger.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._redact import capped_repr
from ..errors import ConfigurationError
from ._outgoing import OutgoingMessage, SendResult

__all__ = ["DEFAULT_LINGER", "MAX_LINGER", "Coalescer", "SharedBatch", "Ticket", "check_linger"]

#: Seconds a batch request waits for more drains' messages before it is sent part-full:
#: at 1,000 requests/s of 3 events, 10 entries arrive in about 3 ms (the benchmark's
#: choice; the drain runs after the response, so the wait is not the client's).
DEFAULT_LINGER = 0.005
#: A longer wait holds every drain (and its request's task) for nothing.
MAX_LINGER = 1.0

#: ``(destination, messages) -> SendResult``: one batch request, its outcome.
SendBatch = Callable[[str, list[OutgoingMessage]], Awaitable[SendResult]]


def check_linger(value: object) -> float:
    """``value`` as seconds if it is a number from 0 to :data:`MAX_LINGER`.

    Raises:
        ConfigurationError: it is not (the message names its type and the fix).
    """
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_LINGER
    ):
        return float(value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    shown = f"{type(value).__name__} {capped_repr(value)}" if number else type(value).__name__
    raise ConfigurationError(
        f"linger must be a number of seconds from 0 to {MAX_LINGER}, got {shown}; pass e.g. "
        f"linger={DEFAULT_LINGER}, or linger=0 to send each drain's batches alone"
    )


class SharedBatch(list[OutgoingMessage]):
    """A drain's batch on its first attempt: it may share a request with other drains'
    messages. Retries and halves of a rejected batch are plain lists, sent alone, so a
    failure is isolated without involving the other drains again."""


class Ticket:
    """One drain's batch inside a shared batch request, and the request's outcome."""

    __slots__ = ("_pending", "future", "messages", "size")

    def __init__(
        self, messages: Sequence[OutgoingMessage], size: int, future: asyncio.Future[SendResult]
    ) -> None:
        self.messages = messages
        self.size = size
        self.future = future
        #: The request being filled that holds this ticket; ``None`` once it is sent.
        self._pending: _Pending | None = None


class _Pending:
    """A batch request being filled for one destination on one loop."""

    __slots__ = ("count", "destination", "size", "tickets", "timer")

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.tickets: list[Ticket] = []
        self.count = 0
        self.size = 0
        self.timer: asyncio.TimerHandle | None = None


class Coalescer:
    """The batch requests being filled, per event loop and destination, of one forwarder.

    Args:
        linger: seconds a request waits for more messages once it has its first.
        send: sends one request (called in a task of its own, in an empty context).
        interrupted: the error a ticket gets if its request's task is cancelled before the
            answer (a transient one: the drain sends its messages again, alone).
    """

    def __init__(
        self, linger: float, send: SendBatch, interrupted: Callable[[], Exception]
    ) -> None:
        self.linger = linger
        self._send = send
        self._interrupted = interrupted
        self._filling: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Pending]]
        self._filling = weakref.WeakKeyDictionary()
        self._sending: set[asyncio.Task[None]] = set()  # strong references

    def submit(
        self,
        destination: str,
        messages: Sequence[OutgoingMessage],
        size: int,
        limits: tuple[int, int],
    ) -> Ticket:
        """Add ``messages`` (``size`` bytes) to the request being filled for
        ``destination`` (sending it first if they do not fit within ``limits``: entries,
        bytes); the ticket's future gets the request's outcome."""
        loop = asyncio.get_running_loop()
        filling = self._filling.get(loop)
        if filling is None:
            filling = self._filling[loop] = {}
        max_count, max_bytes = limits
        pending = filling.get(destination)
        if pending is not None and (
            pending.count + len(messages) > max_count or pending.size + size > max_bytes
        ):
            self._start(filling, pending)
            pending = None
        if pending is None:
            pending = filling[destination] = _Pending(destination)
        ticket = Ticket(messages, size, loop.create_future())
        ticket._pending = pending
        pending.tickets.append(ticket)
        pending.count += len(messages)
        pending.size += size
        if pending.count >= max_count:
            self._start(filling, pending)
        elif pending.timer is None:
            pending.timer = loop.call_later(
                self.linger, self._expire, filling, pending, context=contextvars.Context()
            )
        return ticket

    def withdraw(self, ticket: Ticket) -> bool:
        """Take ``ticket`` out of the request being filled; ``False`` if it was sent."""
        pending = ticket._pending
        if pending is None:
            return False
        ticket._pending = None
        pending.tickets.remove(ticket)
        pending.count -= len(ticket.messages)
        pending.size -= ticket.size
        if not pending.tickets:
            filling = self._filling.get(asyncio.get_running_loop(), {})
            if filling.get(pending.destination) is pending:
                del filling[pending.destination]
            if pending.timer is not None:
                pending.timer.cancel()
        return True

    async def wait(
        self, ticket: Ticket, grace: float, on_late_result: Callable[[SendResult], None]
    ) -> SendResult:
        """The outcome of ``ticket``'s request. If the caller is cancelled meanwhile, the
        ticket is withdrawn if not yet sent; else its answer is awaited up to ``grace``
        seconds and given to ``on_late_result`` before the cancellation goes on."""
        try:
            return await asyncio.shield(ticket.future)
        except asyncio.CancelledError:
            if not self.withdraw(ticket):
                future = ticket.future
                await asyncio.wait({future}, timeout=grace)
                if future.done() and not future.cancelled() and future.exception() is None:
                    on_late_result(future.result())
            raise

    def _expire(self, filling: dict[str, _Pending], pending: _Pending) -> None:
        pending.timer = None
        if filling.get(pending.destination) is pending:
            self._start(filling, pending)

    def _start(self, filling: dict[str, _Pending], pending: _Pending) -> None:
        """Send ``pending`` now, in a task of its own (no drain's context or cancellation)."""
        del filling[pending.destination]
        if pending.timer is not None:
            pending.timer.cancel()
        for ticket in pending.tickets:
            ticket._pending = None
        coro = self._run(pending.destination, pending.tickets)
        task = contextvars.Context().run(asyncio.ensure_future, coro)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _run(self, destination: str, tickets: list[Ticket]) -> None:
        messages = [message for ticket in tickets for message in ticket.messages]
        try:
            result = await self._send(destination, messages)
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else self._interrupted()
            for ticket in tickets:
                _resolve(ticket.future, error)
            if not isinstance(exc, Exception):
                raise
            return
        for ticket in tickets:
            _resolve(ticket.future, result)


def _resolve(future: asyncio.Future[SendResult], outcome: SendResult | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
        future.add_done_callback(_observe)  # a drain that gave up does not retrieve it
    else:
        future.set_result(outcome)


def _observe(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
