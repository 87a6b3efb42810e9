"""De-duplication by event id: every wire delivers at least once.

A consumer given an :class:`IdempotencyStore` (``deduplicate=True`` for the in-memory
one) asks it whether an event id was already handled before handling a message, and
tells it once every handler took the event. A duplicate is acknowledged without being
handled again. :class:`~fastapi_events.consumers.idempotency_redis.RedisIdempotencyStore`
shares what was handled between workers and across restarts; implement the two methods
over anything else (SQL...) for the same.

.. versionadded:: 1.0
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict

from .._redact import capped_repr
from ..errors import ConfigurationError

__all__ = ["DEFAULT_MAX_IDS", "IdempotencyStore", "MemoryIdempotencyStore"]

#: Event ids the in-memory store remembers by default.
DEFAULT_MAX_IDS = 10_000


class IdempotencyStore(ABC):
    """Remembers the ids of the events a consumer handled.

    Example::

        class RedisIdempotencyStore(IdempotencyStore):
            async def seen(self, event_id: str) -> bool:
                return bool(await redis.exists(f"handled:{event_id}"))

            async def remember(self, event_id: str) -> None:
                await redis.set(f"handled:{event_id}", 1, ex=7 * 24 * 3600)

    .. versionadded:: 1.0
    """

    @abstractmethod
    async def seen(self, event_id: str) -> bool:
        """True if the event ``event_id`` was handled already."""

    @abstractmethod
    async def remember(self, event_id: str) -> None:
        """Record that every handler took the event ``event_id``."""


class MemoryIdempotencyStore(IdempotencyStore):
    """The ids of the last ``max_ids`` events handled by this process, least recently
    used forgotten first. Duplicates seen by another worker, or after a restart, are not
    caught: share a store of your own for that.

    .. versionadded:: 1.0
    """

    def __init__(self, max_ids: int = DEFAULT_MAX_IDS) -> None:
        if isinstance(max_ids, bool) or not isinstance(max_ids, int) or max_ids < 1:
            raise ConfigurationError(f"max_ids must be an int >= 1, got {capped_repr(max_ids)}")
        self.max_ids = max_ids
        self._ids: OrderedDict[str, None] = OrderedDict()

    async def seen(self, event_id: str) -> bool:
        """True if ``event_id`` is among the remembered ids (it becomes the most recent)."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        return False

    async def remember(self, event_id: str) -> None:
        """Remember ``event_id``, forgetting the least recently used id beyond ``max_ids``."""
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        if len(self._ids) > self.max_ids:
            self._ids.popitem(last=False)

    def __len__(self) -> int:
        return len(self._ids)
