"""Handling a Kafka consumer's records in order per partition (or per key), concurrently
across partitions (or keys).

Records of one ordering group wait here, not in the consumer's handling tasks: a record
is handed to the base loop only once the previous record of its group finished, so the
``concurrency`` slots always go to records that can run, whatever partition they are on.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from ._delivery import Delivery
from ._handling import Handling, Verdict
from ._kafka_offsets import PartitionTrack
from ._kafka_retry import retry_meta

__all__ = ["OrderedHandling", "Receipt", "Sequencer", "delivery_of"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where a delivery came from: its partition's track, offset and ordering group."""

    track: PartitionTrack
    offset: int
    group: Hashable | None  # None: no order to keep


class Sequencer:
    """Records waiting for their turn, and those ready to be handled."""

    def __init__(self) -> None:
        self._busy: set[Hashable] = set()
        self._waiting: dict[Hashable, deque[Delivery]] = {}
        self._ready: deque[Delivery] = deque()
        self._backlog: Counter[Any] = Counter()  # records waiting, per partition
        self._wake = asyncio.Event()

    def add(self, delivery: Delivery) -> None:
        """A record was read: ready now, or after the records of its group before it."""
        group = delivery.receipt.group
        if group is None:
            self._ready.append(delivery)
        elif group in self._busy:
            self._waiting.setdefault(group, deque()).append(delivery)
            self._backlog[delivery.receipt.track.tp] += 1
        else:
            self._busy.add(group)
            self._ready.append(delivery)

    def take(self, count: int) -> list[Delivery]:
        """Up to ``count`` records ready to be handled, in the order they became ready."""
        ready = self._ready
        return [ready.popleft() for _ in range(min(count, len(ready)))]

    def finished(self, delivery: Delivery) -> None:
        """``delivery`` was handled (whatever the verdict): its group's next may run."""
        group = delivery.receipt.group
        if group is None:
            return
        queue = self._waiting.get(group)
        if not queue:
            self._busy.discard(group)
            self._waiting.pop(group, None)
            return
        following = queue.popleft()
        self._backlog[following.receipt.track.tp] -= 1
        self._ready.append(following)
        self._wake.set()

    def backlog(self, tp: Any) -> int:
        """Records of partition ``tp`` waiting for their turn."""
        return self._backlog[tp]

    async def woken(self) -> None:
        """Wait until a waiting record became ready."""
        await self._wake.wait()
        self._wake.clear()

    def drop(self, tps: Iterable[Any]) -> dict[Any, set[int]]:
        """Forget the records of revoked partitions ``tps`` not handed out yet (their
        offsets stay uncommitted: the partition's next owner reads them again); their
        offsets, per partition."""
        gone = set(tps)
        dropped: dict[Any, set[int]] = {tp: set() for tp in gone}

        def keep(queue: Iterable[Delivery]) -> deque[Delivery]:
            kept: deque[Delivery] = deque()
            for delivery in queue:
                receipt = delivery.receipt
                if receipt.track.tp in gone:
                    dropped[receipt.track.tp].add(receipt.offset)
                else:
                    kept.append(delivery)
            return kept

        self._ready = keep(self._ready)
        for group, queue in list(self._waiting.items()):
            self._waiting[group] = keep(queue)
            if not self._waiting[group]:
                del self._waiting[group]
        for tp in gone:
            self._backlog.pop(tp, None)
        return dropped


class OrderedHandling(Handling):
    """The consumer's handling, telling the sequencer when each record is done."""

    def __init__(self, inner: Handling, sequencer: Sequencer) -> None:
        # Same state as the handling the base built (its options, stats, in-flight ids).
        vars(self).update(vars(inner))
        self.sequencer = sequencer

    async def __call__(self, delivery: Delivery) -> Verdict:
        """Handle ``delivery``; then let the next record of its group go."""
        try:
            return await super().__call__(delivery)
        finally:
            self.sequencer.finished(delivery)


def delivery_of(
    record: Any, track: PartitionTrack, retry_topic: str, group_id: str, ordering: str | None
) -> Delivery | None:
    """The delivery of aiokafka ``record`` and its ordering group (see
    :class:`Receipt`); ``None`` for a retry copy of another consumer group's."""
    meta = retry_meta(record.headers)
    retried = record.topic == retry_topic
    if retried and meta.group != group_id:
        return None
    group: Hashable | None = None  # None for a retry copy: it has left its order already
    if not retried and ordering == "partition":
        group = track.tp
    elif not retried and ordering == "key" and record.key is not None:
        group = (track.tp, record.key)
    origin = meta.origin if retried else None
    message_id = origin or f"{record.topic}/{record.partition}/{record.offset}"
    sent = record.timestamp / 1000 if (record.timestamp or -1) >= 0 else None
    receipt = Receipt(track, record.offset, group)
    return Delivery(record, message_id, meta.delivery if retried else 1, receipt, sent)
