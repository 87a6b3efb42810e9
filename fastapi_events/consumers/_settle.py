"""Telling the broker what became of each delivery, in batches, off the handling path.

Verdicts pile up while one flush is on the wire; the next flush takes all of them at once,
so acknowledgements batch themselves under load and go out at once when idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._delivery import ConsumerStats, Delivery
from ._handling import ACK, RETRY

__all__ = ["Settler"]

logger = logging.getLogger("fastapi_events.consumers")


class Settler:
    """Acknowledges, retries and releases deliveries through a consumer's hooks."""

    def __init__(
        self,
        ack: Callable[[Sequence[Delivery]], Awaitable[None]],
        retry: Callable[[Sequence[tuple[Delivery, float]]], Awaitable[None]],
        release: Callable[[Sequence[Delivery]], Awaitable[None]],
        stats: ConsumerStats,
        describe: Callable[[], str],
    ) -> None:
        self._hooks = (ack, retry, release)
        self._stats = stats
        self._describe = describe
        self._acks: list[Delivery] = []
        self._retries: list[tuple[Delivery, float]] = []
        self._releases: list[Delivery] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, delivery: Delivery, verdict: str, delay: float = 0.0) -> None:
        """Queue ``delivery``'s verdict (``ACK``, ``RETRY`` after ``delay`` seconds, or
        ``RELEASE``: back at once, unhandled) and make sure a flush will send it."""
        if verdict == ACK:
            self._acks.append(delivery)
        elif verdict == RETRY:
            self._retries.append((delivery, delay))
        else:
            self._stats.released += 1
            self._releases.append(delivery)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="fastapi_events consumer acks")

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) until every queued verdict was sent."""
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            pending = len(self._acks) + len(self._retries) + len(self._releases)
            logger.error(
                "%s: %d verdict(s) not sent within %.1fs at shutdown; those messages are "
                "delivered again",
                self._describe(),
                pending,
                timeout,
            )
            task.cancel()

    async def _flush(self) -> None:
        ack, retry, release = self._hooks
        while self._acks or self._retries or self._releases:
            acks, self._acks = self._acks, []
            retries, self._retries = self._retries, []
            releases, self._releases = self._releases, []
            await self._call(ack, acks, "acknowledge")
            await self._call(retry, retries, "retry")
            await self._call(release, releases, "release")

    async def _call(
        self, hook: Callable[[Any], Awaitable[None]], items: list[Any], what: str
    ) -> None:
        if not items:
            return
        try:
            await hook(items)
        except Exception:
            # The broker delivers them again (visibility timeout, pending entries).
            logger.exception(
                "%s: could not %s %d message(s); they are delivered again",
                self._describe(),
                what,
                len(items),
            )
