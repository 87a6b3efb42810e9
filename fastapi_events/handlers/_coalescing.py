"""Cross-request batching: the messages of concurrent drains share one batch request.

Each drain still awaits and settles exactly its own events: it hands its batch to the
:class:`Coalescer`, which fills the batch request being built for the destination with
it (a batch that does not fit whole is split: the rest starts the next request) and
returns one :class:`Part` per request it went into. A request is sent (by a task of the
coalescer's, one per request) when it is full or ``linger`` seconds after its first
message; its outcome goes to each of its parts. A drain cancelled while a part still
waits takes it back (nothing was sent); for a part already sent, it waits for the answer
within its grace period, as for a send of its own.

A request of 3-event drains at 1,000 requests/s fills 10 entries in about 3 ms: 10 ms
of linger make 0.1 calls per event instead of 0.33 (``benchmarks/forwarding_linger.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ._outgoing import Failure, OutgoingMessage, SendResult

__all__ = [
    "Coalescer",
    "Part",
    "SharedBatch",
    "part_failures",
]

#: ``(destination, messages) -> SendResult``: one batch request, its outcome.
SendBatch = Callable[[str, list[OutgoingMessage]], Awaitable[SendResult]]


class SharedBatch(list[OutgoingMessage]):
    """A drain's batch: its first attempt may share requests with other drains' messages;
    its retries, and the halves of a rejected batch, are sent alone, so a failure is
    isolated without involving the other drains again."""

    __slots__ = ("tried",)

    def __init__(self, messages: Iterable[OutgoingMessage]) -> None:
        super().__init__(messages)
        #: The first attempt was made (shared).
        self.tried = False


#: What became of a part: its request's result, or the error that failed it whole.
Outcome = SendResult | Exception


class Part:
    """Some of one drain's messages inside one shared batch request, and its outcome."""

    __slots__ = ("_pending", "future", "messages", "size")

    def __init__(
        self,
        messages: Sequence[OutgoingMessage],
        size: int,
        future: asyncio.Future[SendResult],
        pending: _Pending,
    ) -> None:
        self.messages = messages
        self.size = size
        self.future = future
        #: The request being filled that holds this part; ``None`` once it is sent.
        self._pending: _Pending | None = pending

    def outcome(self) -> Outcome:
        """The request's result, or its error (the future must be done)."""
        error = self.future.exception()
        return self.future.result() if error is None else _as_exception(error)


class _Pending:
    """A batch request being filled for one destination on one loop."""

    __slots__ = ("count", "destination", "parts", "size", "timer")

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.parts: list[Part] = []
        self.count = 0
        self.size = 0
        self.timer: asyncio.TimerHandle | None = None

    def room(self, sizes: Sequence[int], start: int, limits: tuple[int, int]) -> int:
        """How many of the messages from ``start`` (``sizes``) fit; at least one if it
        is empty."""
        max_count, max_bytes = limits
        end, total = start, self.size
        while end < len(sizes) and self.count + end - start < max_count:
            total += sizes[end]
            if total > max_bytes:
                break
            end += 1
        return max(end - start, 0 if self.parts else 1)


class Coalescer:
    """The batch requests being filled, per event loop and destination, of one forwarder.

    Args:
        linger: seconds a request waits for more messages once it has its first.
        send: sends one request (called in a task of its own, in an empty context).
        interrupted: the error parts get if their request's task is cancelled before the
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
        sizes: Sequence[int],
        limits: tuple[int, int],
    ) -> list[Part]:
        """Put ``messages`` (of ``sizes`` bytes) into the requests being filled for
        ``destination``, within ``limits`` (entries, bytes) per request: what does not
        fit goes into the next one. One part per request used, in order."""
        loop = asyncio.get_running_loop()
        filling = self._filling.get(loop)
        if filling is None:
            filling = self._filling[loop] = {}
        parts: list[Part] = []
        start = 0
        while start < len(messages):  # each turn takes messages, or sends a non-empty one
            pending = filling.get(destination) or filling.setdefault(
                destination, _Pending(destination)
            )
            taken = pending.room(sizes, start, limits)
            if not taken:
                self._start(filling, pending)
                continue
            end = start + taken
            part = Part(messages[start:end], sum(sizes[start:end]), loop.create_future(), pending)
            self._add(loop, filling, pending, part, limits[0])
            parts.append(part)
            start = end
        return parts

    def _add(
        self,
        loop: asyncio.AbstractEventLoop,
        filling: dict[str, _Pending],
        pending: _Pending,
        part: Part,
        max_count: int,
    ) -> None:
        pending.parts.append(part)
        pending.count += len(part.messages)
        pending.size += part.size
        if pending.count >= max_count:
            self._start(filling, pending)
        elif pending.timer is None:
            pending.timer = loop.call_later(
                self.linger, self._expire, filling, pending, context=contextvars.Context()
            )

    def withdraw(self, part: Part) -> bool:
        """Take ``part`` out of the request being filled; ``False`` if it was sent."""
        pending, part._pending = part._pending, None
        if pending is None:
            return False
        pending.parts.remove(part)
        pending.count -= len(part.messages)
        pending.size -= part.size
        if not pending.parts:
            filling = self._filling.get(asyncio.get_running_loop(), {})
            if filling.get(pending.destination) is pending:
                del filling[pending.destination]
            if pending.timer is not None:
                pending.timer.cancel()
        return True

    async def wait(
        self,
        parts: Sequence[Part],
        grace: float,
        on_late_result: Callable[[Sequence[OutgoingMessage], SendResult], None],
    ) -> list[Outcome]:
        """The outcome of every part. If the caller is cancelled meanwhile, the parts not
        yet sent are withdrawn; those sent are awaited up to ``grace`` seconds, and each
        answered one is given to ``on_late_result`` before the cancellation goes on."""
        futures = {part.future for part in parts}
        try:
            await asyncio.wait(futures)  # never cancels the futures
        except asyncio.CancelledError:
            sent = [part for part in parts if not self.withdraw(part)]
            if sent:
                await asyncio.wait({part.future for part in sent}, timeout=grace)
            for part in sent:
                if part.future.done() and part.future.exception() is None:
                    on_late_result(part.messages, part.future.result())
            raise
        return [part.outcome() for part in parts]

    def _expire(self, filling: dict[str, _Pending], pending: _Pending) -> None:
        pending.timer = None
        if filling.get(pending.destination) is pending:
            self._start(filling, pending)

    def _start(self, filling: dict[str, _Pending], pending: _Pending) -> None:
        """Send ``pending`` now, in a task of its own (no drain's context or cancellation)."""
        del filling[pending.destination]
        if pending.timer is not None:
            pending.timer.cancel()
        for part in pending.parts:
            part._pending = None
        coro = self._run(pending.destination, pending.parts)
        task = contextvars.Context().run(asyncio.ensure_future, coro)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _run(self, destination: str, parts: list[Part]) -> None:
        messages = [message for part in parts for message in part.messages]
        try:
            result = await self._send(destination, messages)
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else self._interrupted()
            for part in parts:
                _resolve(part.future, error)
            if not isinstance(exc, Exception):
                raise
            return
        for part in parts:
            _resolve(part.future, result)


def part_failures(
    parts: Sequence[Part], outcomes: Sequence[Outcome], retry_alone: Callable[[Exception], bool]
) -> list[Failure]:
    """The failures of one drain's messages across its parts: each failure its request
    reported for them, and every message of a part whose request failed whole (retryable,
    sent alone then, if ``retry_alone`` says a retry or a smaller batch may work)."""
    failures: list[Failure] = []
    for part, outcome in zip(parts, outcomes, strict=True):
        if isinstance(outcome, Exception):
            retry = retry_alone(outcome)
            failures += [Failure(message, outcome, retry) for message in part.messages]
        else:
            mine = {id(message) for message in part.messages}
            failures += [failure for failure in outcome.failed if id(failure.message) in mine]
    return failures


def _resolve(future: asyncio.Future[SendResult], outcome: Outcome) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
        future.add_done_callback(_observe)  # a drain that gave up does not retrieve it
    else:
        future.set_result(outcome)


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(repr(error))


def _observe(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
