"""Which offsets a Kafka consumer may commit: per partition, only up to the first record
not settled yet.

A record is *settled* once it was handled (acknowledged), copied to the retry topic, or
dead-lettered. Records finish out of order (they are handled concurrently), so the offset
committed for a partition is the lowest offset received and not settled, or the offset
after the last record received when all are settled: a crash never skips a record that
was not settled; records settled above an unsettled one are read again (at least once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["COMMIT_TIMEOUT", "Offsets", "PartitionTrack"]

logger = logging.getLogger("fastapi_events.consumers.kafka")

#: Seconds a commit may take (aiokafka retries retriable errors until it succeeds).
COMMIT_TIMEOUT = 10.0


class PartitionTrack:
    """One partition's records received and not settled, while it is assigned to us."""

    __slots__ = ("committed", "next", "pending", "tp")

    def __init__(self, tp: Any) -> None:
        self.tp = tp
        self.pending: set[int] = set()
        self.next = -1  # the offset after the highest received
        self.committed = -1

    def received(self, offset: int) -> None:
        """A record was read."""
        self.pending.add(offset)
        if offset >= self.next:
            self.next = offset + 1

    def settled(self, offset: int) -> None:
        """A record was handled, retried elsewhere or dead-lettered."""
        self.pending.discard(offset)

    def point(self) -> int:
        """The offset safe to commit: the first record not settled (or after the last)."""
        return min(self.pending) if self.pending else self.next


class Offsets:
    """The tracks of the partitions assigned to this consumer."""

    def __init__(self) -> None:
        self.tracks: dict[Any, PartitionTrack] = {}
        self._lock = asyncio.Lock()  # one commit at a time: a later one never goes back
        self._scheduled: asyncio.Task[None] | None = None
        self._last = float("-inf")  # when the last commit began (loop time)

    def track(self, tp: Any) -> PartitionTrack:
        """The current track of ``tp`` (a new one after it was revoked)."""
        track = self.tracks.get(tp)
        if track is None:
            track = self.tracks[tp] = PartitionTrack(tp)
        return track

    def owns(self, track: PartitionTrack) -> bool:
        """True while ``track``'s partition is still assigned (not revoked since)."""
        return self.tracks.get(track.tp) is track

    def due(self, only: Iterable[Any] | None = None) -> dict[Any, int]:
        """The offsets to commit now: those past what was committed."""
        tracks = self.tracks.values() if only is None else self._some(only)
        return {track.tp: track.point() for track in tracks if track.point() > track.committed}

    async def commit(self, client: Any, only: Iterable[Any] | None = None) -> None:
        """Commit, with aiokafka ``client``, every assigned partition (or ``only`` these)
        as far as it is settled.

        Raises:
            KafkaError: the commit failed (a later one commits those offsets too).
            asyncio.TimeoutError: it took longer than :data:`COMMIT_TIMEOUT`.
        """
        async with self._lock:
            if client is None:
                return
            assigned = client.assignment()
            points = {tp: point for tp, point in self.due(only).items() if tp in assigned}
            if points:
                await asyncio.wait_for(client.commit(points), COMMIT_TIMEOUT)
                self.committed(points)

    def commit_soon(self, client: Any, interval: float, describe: Callable[[], str]) -> None:
        """Commit within ``interval`` seconds of the last commit: one commit for every
        record settled meanwhile (a failure is logged; the next commit covers it)."""
        if self._scheduled is None or self._scheduled.done():
            self._scheduled = asyncio.create_task(self._commit_later(client, interval, describe))

    async def _commit_later(
        self, client: Any, interval: float, describe: Callable[[], str]
    ) -> None:
        loop = asyncio.get_running_loop()
        while self.due():
            await asyncio.sleep(max(self._last + interval - loop.time(), 0.0))
            self._last = loop.time()
            try:
                await self.commit(client)
            except Exception as exc:
                logger.warning(
                    "%s: commit failed (%s); the next commit covers those offsets",
                    describe(),
                    type(exc).__name__,
                )
                return

    async def close(self, client: Any) -> None:
        """Stop committing in the background, then commit what was settled."""
        scheduled, self._scheduled = self._scheduled, None
        if scheduled is not None:
            scheduled.cancel()
            await asyncio.gather(scheduled, return_exceptions=True)
        await self.commit(client)

    async def hand_over(
        self,
        client: Any,
        tps: list[Any],
        dropped: dict[Any, set[int]],
        wait: float,
        describe: Callable[[], str],
    ) -> None:
        """A rebalance takes ``tps`` away: wait up to ``wait`` seconds for their records
        being handled (not those ``dropped`` unhandled: they stay uncommitted), commit what
        was settled, and forget them (the next owner reads the rest)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline and any(
            self.tracks[tp].pending - dropped.get(tp, set()) for tp in tps
        ):
            await asyncio.sleep(0.02)
        try:
            await self.commit(client, tps)
        except Exception as exc:
            logger.warning(
                "%s: commit at rebalance failed (%s); the next owner reads those records again",
                describe(),
                type(exc).__name__,
            )
        self.forget(tps)

    def committed(self, points: dict[Any, int]) -> None:
        """``points`` were committed."""
        for tp, point in points.items():
            track = self.tracks.get(tp)
            if track is not None:
                track.committed = max(track.committed, point)

    def forget(self, tps: Iterable[Any]) -> None:
        """``tps`` were revoked."""
        for tp in tps:
            self.tracks.pop(tp, None)

    def _some(self, tps: Iterable[Any]) -> list[PartitionTrack]:
        return [self.tracks[tp] for tp in tps if tp in self.tracks]
