"""What a pipeline asks of a spool: keep events until every handler is done with them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._event import Event

__all__ = ["Spool", "SpooledEvent"]


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    """An event read back from a spool, and the handlers (by position) still owed it."""

    event: Event
    pending: frozenset[int]


class Spool(ABC):
    """Durable storage for a pipeline's events, from dispatch until every handler is done.

    The pipeline writes a batch before any handler sees it, marks it done per handler as
    each handler finishes, and replays at start-up (and whenever a sibling worker dies)
    what was left unfinished. Implement these methods to store events elsewhere.

    .. versionadded:: 1.0
    """

    @abstractmethod
    async def open(
        self, handler_count: int, on_orphans: Callable[[list[SpooledEvent]], None]
    ) -> None:
        """Start (at application startup): claim what dead owners left and give it to
        ``on_orphans``, now and whenever another owner dies later."""

    @abstractmethod
    async def write(self, events: Sequence[Event]) -> list[Event]:
        """Store ``events`` durably; return those that could *not* be stored (full,
        unserialisable), which are then handled without durability."""

    @abstractmethod
    def done(self, events: Sequence[Event], handler_index: int) -> None:
        """Record that handler ``handler_index`` has finished with ``events`` (no wait)."""

    @abstractmethod
    def holding(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the spool holds unfinished (asked at shutdown: those are kept
        for a replay instead of being reported as lost)."""

    @abstractmethod
    async def close(self) -> None:
        """Flush, release what this process still owns (for the next start or a sibling),
        and stop."""
