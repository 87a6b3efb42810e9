"""Handing messages from the Pub/Sub client's threads to the consumer's event loop.

A streaming pull delivers each message by calling a callback on one of the client's
threads. :class:`Inbox` is that callback's side of the bridge: it keeps the message in a
thread-safe buffer and wakes the event loop at most once per batch (one
``call_soon_threadsafe`` for however many messages arrive before the loop runs), and the
loop takes them with :meth:`Inbox.take`. :class:`InlineScheduler` runs the callback on the
thread that received the messages, without the client's default thread pool: the
callback only appends to a buffer, so another thread hop would be pure overhead.

Giving messages back (a nack) while the stream is open would have Pub/Sub deliver them
again at once, to the same stream that is shutting down. So what a stopping consumer
gives back waits in the inbox, and the client nacks it while it shuts down, after the
stream stopped receiving: the scheduler's ``shutdown`` returns it, as the messages it
never dispatched (see ``StreamingPullManager._shutdown``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Inbox", "InlineScheduler"]

logger = logging.getLogger("fastapi_events.consumers")


class Inbox:
    """Messages received by the client's threads, waiting for the event loop.

    Once :meth:`close` d, a message that still arrives is nacked at once (given back
    unhandled) rather than kept.

    Attributes:
        untaken: how many messages :meth:`close` found that were never taken.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._messages: deque[Any] = deque()
        self._wake_scheduled = False
        self._closed = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None  # touched on the loop only
        self._returns: list[Any] = []
        self.untaken = 0

    # --- the client's threads --------------------------------------------------------------

    def put(self, message: Any) -> None:
        """The streaming pull's callback: keep ``message`` for the loop."""
        with self._lock:
            closed = self._closed
            if not closed:
                self._messages.append(message)
                wake, self._wake_scheduled = not self._wake_scheduled, True
        if closed:
            message.nack()
        elif wake:
            self._call_soon(self._wake)

    def fail(self, error: BaseException) -> None:
        """The stream ended with ``error``: the waiting :meth:`take` raises it."""
        with self._lock:
            self._error = error
        self._call_soon(self._wake)

    def _call_soon(self, callback: Callable[[], None]) -> None:
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed: nobody takes these any more
            for message in self.close():
                message.nack()

    # --- the event loop --------------------------------------------------------------------

    def _wake(self) -> None:
        with self._lock:
            self._wake_scheduled = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self, limit: int) -> list[Any]:
        """Up to ``limit`` messages, waiting until at least one came.

        Raises:
            BaseException: the stream failed (what it failed with), once.
            ConnectionError: the inbox is closed and empty.
        """
        while True:
            with self._lock:
                if self._messages:
                    count = min(limit, len(self._messages))
                    return [self._messages.popleft() for _ in range(count)]
                error, self._error = self._error, None
                if error is None and self._closed:
                    error = ConnectionError("the streaming pull has ended")
            if error is not None:
                raise error
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def give_back_later(self, messages: list[Any]) -> None:
        """Keep ``messages`` to give back when the stream has stopped (at once if it has)."""
        with self._lock:
            closed = self._closed
            if not closed:
                self._returns.extend(messages)
        if closed:
            for message in messages:
                message.nack()

    def close(self) -> list[Any]:
        """Accept no more messages; those to give back: the ones not taken, and those
        kept by :meth:`give_back_later`."""
        with self._lock:
            self._closed = True
            left, self._returns = [*self._messages, *self._returns], []
            self.untaken += len(self._messages)
            self._messages.clear()
        return left


class InlineScheduler:
    """A scheduler for ``SubscriberClient.subscribe`` that calls the callback right away,
    on the thread that received the message (the callback must not block), and closes
    ``inbox`` when the client shuts down."""

    def __init__(self, inbox: Inbox) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._inbox = inbox

    @property
    def queue(self) -> queue.Queue[Any]:
        """Where messages put their ack, nack and lease requests for the client."""
        return self._queue

    def schedule(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``callback(*args, **kwargs)`` now (a failure is logged and the message,
        the first argument, given back: never raised into the client's thread)."""
        try:
            callback(*args, **kwargs)
        except Exception:
            logger.exception("handing a Pub/Sub message to the consumer failed; nacked")
            for message in args[:1]:
                message.nack()

    def shutdown(self, await_msg_callbacks: bool = False) -> list[Any]:
        """The stream stopped receiving: close the inbox; what it gives back is for the
        client to nack."""
        return self._inbox.close()
