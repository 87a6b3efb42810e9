"""What one handler has finished of one batch: the record exact accounting is built on.

A handler object marks each event it is done with (handled, or failed and reported) through
:func:`fastapi_events._context.current_progress`; a local handler also counts the functions
it has run for the event in progress. When the batch is interrupted (the draining task is
cancelled, shutdown times out), the events not marked are exactly the ones still owed: they
are continued elsewhere or reported, and never handled twice by a function that finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Progress"]


class Progress:
    """The events one handler object has settled in one batch.

    Events are recognised by identity, so the batch must keep them alive (it does).
    """

    __slots__ = ("_settled", "_steps", "finished", "on_settle")

    def __init__(self) -> None:
        #: Every event of the batch is settled (the handler returned, or was reported).
        self.finished = False
        #: Called with each event as it is settled (the spool marks it done at once).
        self.on_settle: Callable[[Any], None] | None = None
        self._settled: set[int] = set()
        self._steps: dict[int, int] | None = None  # made at the first step (rare)

    def settle(self, event: Any) -> None:
        """Mark ``event`` done for this handler (handled, or reported as failed)."""
        self._settled.add(id(event))
        if self.on_settle is not None:
            self.on_settle(event)

    def is_settled(self, event: Any) -> bool:
        """True if ``event`` needs nothing more from this handler."""
        return self.finished or id(event) in self._settled

    def marker(self) -> Callable[[int], None] | None:
        """``settle`` for a hot loop: a callable taking ``id(event)``, or ``None`` when
        settling must do more than record it (``on_settle`` is set: call :meth:`settle`)."""
        return self._settled.add if self.on_settle is None else None

    def steps_done(self, event: Any) -> int:
        """How many of a local handler's functions have finished with ``event``."""
        steps = self._steps
        return 0 if steps is None else steps.get(id(event), 0)

    def step(self, event: Any) -> None:
        """Count one more finished function for ``event``."""
        steps = self._steps
        if steps is None:
            steps = self._steps = {}
        key = id(event)
        steps[key] = steps.get(key, 0) + 1

    def owed(self, events: Sequence[Any]) -> Sequence[Any]:
        """The events of ``events`` this handler still owes, in their order (``events``
        itself while none is settled)."""
        if self.finished:
            return ()
        settled = self._settled
        if not settled:
            return events
        return [event for event in events if id(event) not in settled]

    def finish(self) -> None:
        """Mark every event of the batch settled."""
        self.finished = True
