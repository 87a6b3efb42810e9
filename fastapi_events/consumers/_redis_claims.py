"""The pending entries of a Redis stream consumer group: this consumer's retries coming
due, and entries stuck with a consumer that died (``XAUTOCLAIM``).

A failed entry stays pending (unacknowledged) under this consumer. Its idle clock is reset
when it fails, its due time is kept here, and once due it is claimed again (``XCLAIM``,
which counts one more delivery). An entry idle for ``claim_idle`` seconds under any
consumer (one that died, or this one before a restart) is taken over with ``XAUTOCLAIM``;
its delivery count comes from ``XPENDING``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._delivery import Delivery

__all__ = ["Claims", "StreamEntry", "delivery_of"]

#: ``(entry id, fields)`` as redis-py returns a stream entry.
StreamEntry = tuple[Any, Any]


@dataclass(frozen=True, slots=True)
class _Due:
    at: float  # time.monotonic()
    deliveries: int
    idle_ms: int  # the least idle time it has when due, unless someone claimed it


class Claims:
    """Finds the pending entries this consumer should take (see the module docstring)."""

    def __init__(self, stream: str, group: str, name: str, claim_idle: float) -> None:
        self.stream = stream
        self.group = group
        self.name = name
        self.claim_idle_ms = int(claim_idle * 1000)
        #: Entry ids received and not settled yet (never claimed from ourselves).
        self.held: set[str] = set()
        self._due: dict[str, _Due] = {}
        self._cursor = "0-0"

    def retry_later(self, entry_id: str, deliveries: int, delay: float) -> None:
        """Remember that ``entry_id`` failed on delivery ``deliveries``; due in ``delay``."""
        self.held.discard(entry_id)
        idle_ms = max(int(delay * 900) - 50, 0)  # a little slack for clocks and round trips
        self._due[entry_id] = _Due(time.monotonic() + delay, deliveries, idle_ms)

    def forget(self, entry_id: str) -> None:
        """``entry_id`` was acknowledged or given back."""
        self.held.discard(entry_id)
        self._due.pop(entry_id, None)

    def next_due_in(self) -> float | None:
        """Seconds until the next retry is due (``None``: none waiting)."""
        if not self._due:
            return None
        return max(min(due.at for due in self._due.values()) - time.monotonic(), 0.0)

    async def due_retries(self, client: Any, limit: int) -> list[Delivery]:
        """Claim back up to ``limit`` of this consumer's retries that are due."""
        now = time.monotonic()
        due = [(key, d) for key, d in self._due.items() if d.at <= now][:limit]
        if not due:
            return []
        async with client.pipeline(transaction=False) as pipe:
            for key, d in due:
                pipe.xclaim(self.stream, self.group, self.name, d.idle_ms, [key])
            results = await pipe.execute(raise_on_error=False)
        deliveries = []
        for (key, d), result in zip(due, results, strict=True):
            self._due.pop(key, None)
            for entry in result if isinstance(result, list) else []:
                if entry[1] is not None:  # None: deleted from the stream meanwhile
                    deliveries.append(self._take(entry, d.deliveries + 1))
        return deliveries

    async def stuck(self, client: Any, limit: int) -> list[Delivery]:
        """Take over up to ``limit`` entries idle for ``claim_idle`` under any consumer."""
        cursor, entries, *_ = await client.xautoclaim(
            self.stream, self.group, self.name, self.claim_idle_ms, self._cursor, count=limit
        )
        self._cursor = _text(cursor)
        mine = [entry for entry in entries if _text(entry[0]) not in self.held]
        if not mine:
            return []
        async with client.pipeline(transaction=False) as pipe:
            for entry in mine:
                pipe.xpending_range(self.stream, self.group, entry[0], entry[0], 1)
            counts = await pipe.execute(raise_on_error=False)
        return [self._take(entry, _count(info)) for entry, info in zip(mine, counts, strict=True)]

    def _take(self, entry: StreamEntry, deliveries: int) -> Delivery:
        delivery = delivery_of(entry, deliveries)
        self._due.pop(delivery.message_id, None)
        self.held.add(delivery.message_id)
        return delivery


def delivery_of(entry: StreamEntry, deliveries: int = 1) -> Delivery:
    """The delivery of a stream entry ``(id, fields)``."""
    entry_id = _text(entry[0])
    milliseconds = entry_id.partition("-")[0]
    sent = int(milliseconds) / 1000 if milliseconds.isdigit() else None
    return Delivery(entry[1], entry_id, deliveries, entry_id, sent)


def _count(info: Any) -> int:
    if isinstance(info, Sequence) and info and isinstance(info[0], dict):
        return int(info[0].get("times_delivered", 1))
    return 1


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
