"""In-progress acknowledgements (``+WPI``) for the JetStream messages a consumer holds, so
that handling may outlast the consumer's ``ack_wait`` without a redelivery.

Every ``interval`` seconds, each message held for at least that long is reported as still
being worked on, which restarts its ``ack_wait`` clock on the server. A worker that dies
stops reporting, and the server delivers its messages again after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["InProgress"]

logger = logging.getLogger("fastapi_events.consumers")


class InProgress:
    """The messages held (received, not settled yet) and the task reporting them."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._held: dict[str, tuple[Any, float]] = {}  # ack subject -> (message, since)
        self._task: asyncio.Task[None] | None = None

    def hold(self, messages: Iterable[Any]) -> None:
        """Start reporting ``messages`` (just received)."""
        now = asyncio.get_running_loop().time()
        for msg in messages:
            self._held[msg.reply] = (msg, now)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fastapi_events NATS progress")

    def drop(self, messages: Iterable[Any]) -> None:
        """Stop reporting ``messages`` (settled)."""
        for msg in messages:
            self._held.pop(msg.reply, None)

    async def stop(self) -> None:
        """Stop reporting anything."""
        self._held.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            due = loop.time() - self.interval
            for msg, since in list(self._held.values()):
                if since > due:
                    continue
                try:
                    await msg.in_progress()
                except Exception as exc:  # the server redelivers it after ack_wait
                    logger.debug("in-progress ack failed: %s", type(exc).__name__)
