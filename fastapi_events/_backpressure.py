"""Bounded background work: at most ``max_pending`` events wait in a pipeline's background
queues (late events, events outside requests, websocket and chained events).

Past the bound the overflow is explicit: with a spool, the event is spilled to it (written,
owned by nobody) and replayed when the queues have room again; without one, it is reported
as dropped (``on_error`` with :class:`~fastapi_events.errors.EventsDroppedError`, one log
record per burst, the ``dropped`` metric). Memory never grows without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from ._event import Event
from .errors import ConfigurationError, EventsDroppedError

__all__ = ["DEFAULT_MAX_PENDING", "Admission"]

#: Enough for a busy server's bursts; a slow handler's backlog stops here.
DEFAULT_MAX_PENDING = 100_000


class Admission:
    """Counts a pipeline's queued background events and turns the overflow away."""

    def __init__(
        self,
        max_pending: Any,
        report: Callable[[list[tuple[Any, list[Event]]], Exception], None],
        handlers: Sequence[Any],
    ) -> None:
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ConfigurationError(
                f"max_pending must be an int >= 1, got {type(max_pending).__name__}; pass e.g. "
                f"max_pending={DEFAULT_MAX_PENDING}"
            )
        self.max_pending = max_pending
        self.pending = 0
        self.spill: Callable[[list[Event]], list[Event]] | None = None  # the spool's, if any
        self._report = report
        self._handlers = handlers
        self._turned_away: list[Event] = []

    def capacity(self) -> int:
        """How many more events the queues take now."""
        return max(self.max_pending - self.pending, 0)

    def admit(self, event: Event) -> bool:
        """Count ``event`` in, or turn it away (spilled or reported) when the queues are full."""
        if self.pending < self.max_pending:
            self.pending += 1
            return True
        if not self._turned_away:
            asyncio.get_running_loop().call_soon(self._overflow)
        self._turned_away.append(event)
        return False

    def release(self, count: int) -> None:
        """``count`` queued events have left the queues (handled, reported or abandoned)."""
        self.pending = max(self.pending - count, 0)

    def _overflow(self) -> None:
        events, self._turned_away = self._turned_away, []
        if self.spill is not None:
            events = self.spill(events)  # what the spool could not take is dropped
            if not events:
                return
        error = EventsDroppedError(
            f"the background queues were full (max_pending={self.max_pending})"
        )
        self._report([(handler, events) for handler in self._handlers], error)
