"""When the relay looks again: at a NOTIFY, at the earliest retry it scheduled, or at the
next poll, whichever comes first."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime

from ._rows import utcnow

__all__ = ["Wakeup"]


class Wakeup:
    """The relay's idle wait: woken by :meth:`wake` (thread-unsafe: call it on the loop)."""

    def __init__(self) -> None:
        self._woken = asyncio.Event()
        self._idle = asyncio.Event()
        self._next_retry: datetime | None = None

    def wake(self) -> None:
        """End the current wait now, or the next one at once."""
        self._woken.set()

    def retry_at(self, moments: Iterable[datetime]) -> None:
        """Rows are due again at ``moments``: wait no longer than the earliest."""
        for moment in moments:
            if self._next_retry is None or moment < self._next_retry:
                self._next_retry = moment

    async def sleep(self, poll_interval: float) -> None:
        """Wait (idle) until woken, a scheduled retry is due, or ``poll_interval`` passed."""
        delay = poll_interval
        if self._next_retry is not None:
            due = (self._next_retry - utcnow()).total_seconds()
            if due <= delay:
                delay, self._next_retry = max(due, 0.0), None
        self._idle.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._woken.wait(), delay)
        self._idle.clear()
        self._woken.clear()

    async def wait_idle(self, timeout: float | None) -> None:
        """Return once the relay waits with nothing to do (TimeoutError after ``timeout``)."""
        await asyncio.wait_for(self._idle.wait(), timeout)
