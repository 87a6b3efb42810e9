"""Tracked background tasks: nothing started here is forgotten or lost silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ._event import Event
from ._reporting import unique_events
from ._work import Owed
from .errors import PendingEventsTimeout

__all__ = ["BackgroundRunner", "PendingEventsTimeout", "Tracked"]

logger = logging.getLogger("fastapi_events")


class Tracked(Protocol):
    """What a background task works on: a batch or a queue of them."""

    def unsettled(self) -> list[Owed]:
        """Per handler, the events still owed."""

    def abandon(self) -> None:
        """Give up what is owed (the caller reports it)."""


class BackgroundRunner:
    """Starts tasks on the event loop and remembers, for each, what it works on."""

    def __init__(self, on_cancelled: Callable[[list[Owed]], None] | None = None) -> None:
        #: Called with what a task cancelled by anyone but :meth:`cancel_all` still owed
        #: (the caller of :meth:`cancel_all` reports that itself).
        self.on_cancelled = on_cancelled
        self._tasks: dict[asyncio.Task[None], Tracked] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], tracked: Tracked) -> asyncio.Task[None]:
        """Start ``coro`` as a tracked task working on ``tracked``. Needs a running loop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks[task] = tracked
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[None]) -> None:
        tracked = self._tasks.pop(task, None)
        if task.cancelled():
            if tracked is not None:
                self._give_up(tracked)
        elif (exc := task.exception()) is not None:
            # Pipelines report handler failures themselves; this is a bug guard.
            logger.error("background task %r crashed", task.get_name(), exc_info=exc)

    def _give_up(self, tracked: Tracked) -> None:
        owed = tracked.unsettled()
        tracked.abandon()  # reported as lost: a later worker must not handle them
        if owed and self.on_cancelled is not None:
            self.on_cancelled(owed)

    def sweep_closed_loops(self) -> None:
        """Give up (and report) the tasks of closed event loops: they will never run again."""
        for task in [task for task in self._tasks if task.get_loop().is_closed()]:
            tracked = self._tasks.pop(task)
            self._give_up(tracked)

    def busy(self) -> bool:
        """True while a task other than the calling one is running."""
        current = asyncio.current_task()
        return any(task is not current for task in self._tasks)

    def runs_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True if any of the tasks runs on ``loop``."""
        return any(task.get_loop() is loop for task in self._tasks)

    def pending_events(self) -> list[Event]:
        """The distinct events some task still owes to some handler."""
        return unique_events([o for tracked in self._tasks.values() for o in tracked.unsettled()])

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

    async def cancel_all(self) -> list[Owed]:
        """Cancel every task; once they have stopped, return what they still owed."""
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        tracked = [self._tasks.pop(task) for task in tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        owed = [o for item in tracked for o in item.unsettled()]
        for item in tracked:
            item.abandon()
        return owed
