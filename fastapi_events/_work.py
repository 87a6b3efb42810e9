"""Units of background work the runner tracks: one batch, and an ordered queue of batches.

Both answer the runner's two questions when their task ends early: which events does each
handler still owe (:meth:`unsettled`), and "give them up" (:meth:`abandon`) once they have
been reported, so nobody handles an event after it was reported as lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._event import Event
from ._progress import Progress

__all__ = ["LateQueue", "Owed", "Work"]

#: ``(handler, events it still owes)``; ``handler`` is a handler object.
Owed = tuple[Any, list[Event]]


class Work:
    """One batch of events for a fixed set of handler objects, with each one's progress."""

    __slots__ = ("events", "not_spooled", "parts", "spooled")

    def __init__(self, events: list[Event], handlers: Sequence[Any]) -> None:
        self.events = events
        self.parts = (
            [(handlers[0], Progress())]  # the common case, without a comprehension's frame
            if len(handlers) == 1
            else [(handler, Progress()) for handler in handlers]
        )
        #: Written to the pipeline's spool (or it has none to write to).
        self.spooled = False
        #: Ids of the events the spool refused (full, not JSON): handled without durability.
        self.not_spooled: frozenset[str] = frozenset()

    def unsettled(self) -> list[Owed]:
        """Per handler, the events it has not finished, in dispatch order."""
        owed = ((handler, list(progress.owed(self.events))) for handler, progress in self.parts)
        return [(handler, events) for handler, events in owed if events]

    def abandon(self) -> None:
        """Give up what is owed (it has been reported)."""
        for _, progress in self.parts:
            progress.finish()


class LateQueue:
    """Events that arrive one by one after a drain, handled in order, in batches, by one
    background task at a time (upstream #34: none is appended to a buffer nobody reads).

    Args:
        handlers: the handler objects every event goes to.
        run: runs a :class:`Work` (the pipeline's ``run``).
        spawn: starts a tracked task: ``spawn(coroutine, tracked)``.
        around: wraps the worker's coroutine (it makes the owning buffer current, so what
            handlers dispatch joins this queue).
    """

    __slots__ = (
        "_admission",
        "_around",
        "_current",
        "_events",
        "_handlers",
        "_run",
        "_spawn",
        "_worker",
    )

    def __init__(
        self,
        handlers: Sequence[Any],
        run: Callable[[Work], Awaitable[None]],
        spawn: Callable[[Any, Any], asyncio.Task[None]],
        around: Callable[[Awaitable[None]], Awaitable[None]],
        admission: Any = None,
    ) -> None:
        self._handlers = handlers
        self._run = run
        self._spawn = spawn
        self._around = around
        #: Counts queued events against the pipeline's ``max_pending`` (``admit``/``release``).
        self._admission = admission
        self._events: list[Event] = []
        self._current: Work | None = None
        self._worker: asyncio.Task[None] | None = None

    def add(self, event: Event) -> None:
        """Queue ``event``; start a worker if none is running. Call on the event loop."""
        if self._admission is not None and not self._admission.admit(event):
            return  # turned away: spilled to the spool, or reported as dropped
        self._events.append(event)
        worker = self._worker
        # A worker of a closed loop (a test client's) will never run again: start another.
        if worker is None or worker.get_loop().is_closed():
            self._worker = self._spawn(self._around(self._work()), self)

    def extend(self, events: list[Event]) -> None:
        """Queue ``events`` in order."""
        for event in events:
            self.add(event)

    async def _work(self) -> None:
        try:
            if self._current is None and self._events:
                self._current = Work(self._events, self._handlers)
                self._events = []
            while self._current is not None:  # (one left by a worker of a closed loop, too)
                await self._run(self._current)
                done, self._current = len(self._current.events), None
                if self._admission is not None:
                    self._admission.release(done)
                if self._events:
                    self._current = Work(self._events, self._handlers)
                    self._events = []
        finally:
            self._worker = None

    def unsettled(self) -> list[Owed]:
        """Per handler, the queued and unfinished events."""
        owed = self._current.unsettled() if self._current is not None else []
        if self._events:
            owed += [(handler, list(self._events)) for handler in self._handlers]
        return owed

    def abandon(self) -> None:
        """Give up the queued and unfinished events (they have been reported)."""
        released = len(self._events)
        if self._current is not None:
            released += len(self._current.events)
            self._current.abandon()
            self._current = None
        self._events = []
        if self._admission is not None:
            self._admission.release(released)
