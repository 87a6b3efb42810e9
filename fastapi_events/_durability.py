"""How a pipeline uses its spool: write before handling, mark per handler, replay orphans,
and tell what a spool still holds from what would be lost."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ._event import Event
from ._reporting import unique_events
from ._work import Owed, Work
from .errors import ConfigurationError
from .spool import Spool, SpooledEvent

__all__ = ["SpoolLink", "link_spool"]

logger = logging.getLogger("fastapi_events")


def link_spool(spool: object, handlers: Sequence[Any]) -> SpoolLink:
    """Check ``spool`` is a :class:`~fastapi_events.spool.Spool` and link it."""
    if not isinstance(spool, Spool):
        raise ConfigurationError(
            f"spool must be a fastapi_events.spool.Spool, got {type(spool).__name__}; pass "
            f"e.g. spool=SQLiteSpool('events.db')"
        )
    return SpoolLink(spool, handlers)


class SpoolLink:
    """A pipeline's spool, as the pipeline uses it."""

    def __init__(self, spool: Spool, handlers: Sequence[Any]) -> None:
        self.spool = spool
        self._handlers = handlers
        self._index = {id(handler): index for index, handler in enumerate(handlers)}

    async def write(self, work: Work) -> None:
        """Store ``work``'s events before any handler sees them (once)."""
        if not work.spooled:
            refused = await self.spool.write(work.events)
            work.not_spooled = frozenset(event.id for event in refused)
            work.spooled = True

    def done(self, handler: Any, events: Sequence[Event]) -> None:
        """``handler`` finished ``events`` (handled or reported): clear them for it."""
        self.spool.done(events, self._index[id(handler)])

    def marker(self, handler: Any) -> Callable[[Event], None]:
        """``mark(event)``: ``handler`` finished ``event`` (called as each one settles)."""
        done, index = self.spool.done, self._index[id(handler)]
        return lambda event: done((event,), index)

    def replay(self, orphans: list[SpooledEvent]) -> Work:
        """A :class:`Work` of what dead owners left, each handler owing only its part."""
        work = Work([orphan.event for orphan in orphans], self._handlers)
        work.spooled = True
        for index, (_, progress) in enumerate(work.parts):
            for orphan in orphans:
                if index not in orphan.pending:
                    progress.settle(orphan.event)
        logger.warning(
            "replaying %d event(s) left unfinished in the spool: %s",
            len(orphans),
            ", ".join(orphan.event.id for orphan in orphans[:100]),
        )
        return work

    def keep(self, owed: list[Owed], error: Exception) -> list[Owed]:
        """Of ``owed`` (never handled here), log what the spool keeps for a replay (the
        next start, or a sibling) and return what it does not hold: only that is lost."""
        held = self.spool.holding([event.id for event in unique_events(owed)])
        kept = unique_events([(h, [e for e in events if e.id in held]) for h, events in owed])
        if kept:
            logger.warning(
                "%d event(s) not handled here (%s) stay in the spool for a replay; ids: %s",
                len(kept),
                type(error).__name__,
                ", ".join(event.id for event in kept),
            )
        lost = [(h, [e for e in events if e.id not in held]) for h, events in owed]
        return [(h, events) for h, events in lost if events]
