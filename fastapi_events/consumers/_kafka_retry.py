"""A Kafka consumer's retry topic: the headers of a retry copy, and waiting for a copy's
time without holding up the other partitions.

A record whose handling failed is copied to the retry topic (same value, key, timestamp
and headers) with four headers of ours; the original's offset is then settled. The
consumer reads the retry topic too: a copy whose time has not come yet makes the
consumer seek back to it and pause that retry partition until then (the copies behind it
wait too: each retry partition is read in order); every other partition keeps flowing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DELIVERY_HEADER",
    "GROUP_HEADER",
    "NOT_BEFORE_HEADER",
    "ORIGIN_HEADER",
    "RetryMeta",
    "RetryWaits",
    "copy_to",
    "retry_headers",
    "retry_meta",
]

#: The delivery the copy is (2 for the first retry...).
DELIVERY_HEADER = "fastapi-events-delivery"
#: When the copy may be handled, in milliseconds since the epoch.
NOT_BEFORE_HEADER = "fastapi-events-not-before"
#: ``topic/partition/offset`` of the original record (the message id across retries).
ORIGIN_HEADER = "fastapi-events-origin"
#: The consumer group that retries it (another group sharing the retry topic skips it).
GROUP_HEADER = "fastapi-events-group"
_OURS = frozenset({DELIVERY_HEADER, NOT_BEFORE_HEADER, ORIGIN_HEADER, GROUP_HEADER})

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class RetryMeta:
    """What the retry headers of a record say (defaults for a record without them)."""

    delivery: int = 1
    not_before: float = 0.0  # seconds since the epoch
    origin: str | None = None
    group: str | None = None


def retry_meta(headers: Headers | None) -> RetryMeta:
    """The retry headers of a record (unreadable values count as absent)."""
    found = {key: value for key, value in headers or () if key in _OURS}
    if not found:
        return RetryMeta()
    return RetryMeta(
        delivery=max(_int(found.get(DELIVERY_HEADER), 1), 1),
        not_before=_int(found.get(NOT_BEFORE_HEADER), 0) / 1000,
        origin=_text(found.get(ORIGIN_HEADER)),
        group=_text(found.get(GROUP_HEADER)),
    )


def retry_headers(
    headers: Headers | None, *, delivery: int, delay: float, origin: str, group: str
) -> list[tuple[str, bytes]]:
    """The headers of a retry copy: the record's own (without earlier retry headers),
    then the next delivery number, its time, the origin and the group."""
    not_before = int((time.time() + max(delay, 0.0)) * 1000)
    kept = [(key, value) for key, value in headers or () if key not in _OURS]
    return [
        *kept,
        (DELIVERY_HEADER, str(delivery).encode()),
        (NOT_BEFORE_HEADER, str(not_before).encode()),
        (ORIGIN_HEADER, origin.encode()),
        (GROUP_HEADER, group.encode()),
    ]


async def copy_to(producer: Any, topic: str, delivery: Any, delay: float, group: str) -> None:
    """Produce a retry copy of ``delivery``'s record to ``topic``, due after ``delay``
    seconds; return once the broker has it."""
    record = delivery.message
    headers = retry_headers(
        record.headers,
        delivery=delivery.deliveries + 1,
        delay=delay,
        origin=delivery.message_id,
        group=group,
    )
    stamp = record.timestamp if (record.timestamp or -1) >= 0 else None
    sending = await producer.send(
        topic, record.value, key=record.key, headers=headers, timestamp_ms=stamp
    )
    await sending


class RetryWaits:
    """The retry partitions paused until their first copy's time."""

    def __init__(self) -> None:
        self._until: dict[Any, float] = {}

    def due_part(self, client: Any, tp: Any, records: list[Any]) -> list[Any]:
        """The records of retry partition ``tp`` whose time has come, up to the first
        that must wait: the consumer is moved back to that one and ``tp`` paused."""
        now = time.time()
        for index, record in enumerate(records):
            when = retry_meta(record.headers).not_before
            if when > now:
                client.seek(tp, record.offset)
                client.pause(tp)
                self._until[tp] = when
                return records[:index]
        return records

    def resume_due(self, client: Any) -> None:
        """Resume the retry partitions whose wait is over."""
        now = time.time()
        for tp, when in list(self._until.items()):
            if when <= now:
                del self._until[tp]
                client.resume(tp)

    def next_in(self) -> float | None:
        """Seconds until the next paused retry partition is due (``None``: none)."""
        if not self._until:
            return None
        return max(min(self._until.values()) - time.time(), 0.0)

    def forget(self, tps: Iterable[Any]) -> None:
        """``tps`` were revoked (a new assignment starts unpaused)."""
        for tp in tps:
            self._until.pop(tp, None)


def _int(value: bytes | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _text(value: bytes | None) -> str | None:
    return value.decode(errors="replace") if value is not None else None
