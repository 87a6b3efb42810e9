"""Tracked background tasks: nothing started here is forgotten or lost silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ._event import Event

__all__ = ["BackgroundRunner", "PendingEventsTimeout"]

logger = logging.getLogger("fastapi_events")


class PendingEventsTimeout(TimeoutError):
    """Raised by :meth:`BackgroundRunner.wait_idle` when events are still pending."""

    def __init__(self, events: list[Event], timeout: float | None) -> None:
        names = ", ".join(f"{e.key!r} (id {e.id})" for e in events[:10])
        more = f" and {len(events) - 10} more" if len(events) > 10 else ""
        super().__init__(f"{len(events)} event(s) still pending after {timeout}s: {names}{more}")
        self.events = events


class BackgroundRunner:
    """Starts tasks on the event loop and remembers, for each, the events it handles."""

    def __init__(self, on_cancelled: Callable[[list[Event]], None] | None = None) -> None:
        #: Called with the unfinished events of a task cancelled by anyone but
        #: :meth:`cancel_all` (whose caller reports them itself).
        self.on_cancelled = on_cancelled
        # task -> the live list of events it is responsible for; a worker may grow or
        # shrink that list while it runs.
        self._tasks: dict[asyncio.Task[None], list[Event]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], events: list[Event]) -> asyncio.Task[None]:
        """Start ``coro`` as a tracked task handling ``events``. Needs a running loop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks[task] = events
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[None]) -> None:
        events = self._tasks.pop(task, None)
        if task.cancelled():
            if events and self.on_cancelled is not None:
                self.on_cancelled(list(events))
            if events:
                events.clear()  # reported as lost: a later worker must not handle them
        elif (exc := task.exception()) is not None:
            # Pipelines report handler failures themselves; this is a bug guard.
            logger.error("background task %r crashed", task.get_name(), exc_info=exc)

    def busy(self) -> bool:
        """True while a task other than the calling one is running."""
        current = asyncio.current_task()
        return any(task is not current for task in self._tasks)

    def runs_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True if any of the tasks runs on ``loop``."""
        return any(task.get_loop() is loop for task in self._tasks)

    def pending_events(self) -> list[Event]:
        """The events of every task not yet finished."""
        return [event for events in self._tasks.values() for event in events]

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no task is left, including tasks started while waiting.

        Raises:
            PendingEventsTimeout: tasks were still running after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        current = asyncio.current_task()
        while tasks := [t for t in self._tasks if t is not current]:
            remaining = None if deadline is None else max(deadline - loop.time(), 0)
            _, pending = await asyncio.wait(tasks, timeout=remaining)
            if pending and deadline is not None and loop.time() >= deadline:
                raise PendingEventsTimeout(self.pending_events(), timeout)

    async def cancel_all(self) -> list[Event]:
        """Cancel every task; return the events they had not finished."""
        unfinished = self.pending_events()
        tasks = list(self._tasks)
        for events in self._tasks.values():
            events.clear()  # the caller reports them: a later worker must not handle them
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return unfinished
