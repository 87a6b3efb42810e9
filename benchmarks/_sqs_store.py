"""The messages of one queue of the light SQS server (``sqs_light.py``): in memory, bounded,
with SQS's visibility-timeout semantics as a consumer sees them.

A received message is hidden for its visibility timeout and comes back (receive count
plus one) when it runs out; ``ChangeMessageVisibility`` moves that moment (0: visible
now); a delete needs the latest receipt handle (an older one "succeeds" without deleting,
as SQS documents). Long polls wait on the queue until a message is visible or their wait
is over. Standard library only.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Message", "MessageStore", "NotInFlight", "ReceiptInvalid"]

#: The default VisibilityTimeout of a queue, in seconds (SQS's default).
DEFAULT_VISIBILITY = 30


class ReceiptInvalid(Exception):
    """A receipt handle this server never gave out."""


class NotInFlight(Exception):
    """A visibility change for a message that is not hidden (or a stale receipt)."""


@dataclass(eq=False, slots=True)
class Message:
    """One stored message: what was sent, and its delivery state."""

    message_id: str
    body: str
    attributes: dict[str, Any]
    md5_body: str
    md5_attributes: str | None
    sent_ms: int
    receive_count: int = 0
    first_receive_ms: int = 0
    receipt: str = ""
    visible_at: float = 0.0  # monotonic; in the heap while hidden
    deleted: bool = False


@dataclass(eq=False)
class MessageStore:
    """The messages of one queue: visible ones in order, hidden ones in a heap."""

    visibility: float = DEFAULT_VISIBILITY
    visible: deque[Message] = field(default_factory=deque)
    hidden: list[tuple[float, int, Message]] = field(default_factory=list)
    by_receipt: dict[str, Message] = field(default_factory=dict)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self.visible) + len(self.by_receipt)

    def add(self, message: Message) -> None:
        """Store a sent message, visible at once; wake a long poll."""
        self.visible.append(message)
        self._wake()

    def purge(self) -> None:
        """Drop every message."""
        self.visible.clear()
        self.hidden.clear()
        self.by_receipt.clear()

    def counts(self) -> tuple[int, int]:
        """Visible and hidden (in flight) messages, after expired timeouts."""
        self._expire()
        return len(self.visible), len(self.by_receipt)

    async def receive(self, count: int, wait: float, visibility: float | None) -> list[Message]:
        """Up to ``count`` visible messages, waiting up to ``wait`` seconds for one; each
        is hidden for ``visibility`` seconds (default: the queue's)."""
        deadline = time.monotonic() + wait
        while True:
            self._expire()
            if self.visible or (left := deadline - time.monotonic()) <= 0:
                break
            if self.hidden:  # wake up when the next hidden message comes back
                left = min(left, max(self.hidden[0][0] - time.monotonic(), 0.001))
            await self._wait(left)
        taken = []
        hide_for = self.visibility if visibility is None else visibility
        while self.visible and len(taken) < count:
            taken.append(self._hide(self.visible.popleft(), hide_for))
        return taken

    def delete(self, receipt: str) -> None:
        """Delete the message ``receipt`` names (a stale receipt: nothing happens).

        Raises:
            ReceiptInvalid: the receipt was never given out.
        """
        message = self.by_receipt.pop(receipt, None)
        if message is not None:
            message.deleted = True
        elif not _well_formed(receipt):
            raise ReceiptInvalid(receipt)

    def change_visibility(self, receipt: str, timeout: float) -> None:
        """Hide the message ``receipt`` names for ``timeout`` more seconds (0: now visible).

        Raises:
            ReceiptInvalid: the receipt was never given out.
            NotInFlight: the message is visible, deleted, or received again since.
        """
        self._expire()
        message = self.by_receipt.get(receipt)
        if message is None:
            raise (NotInFlight if _well_formed(receipt) else ReceiptInvalid)(receipt)
        if timeout <= 0:
            self._show(message)
            return
        message.visible_at = time.monotonic() + timeout
        self._push(message)

    # --- internals ------------------------------------------------------------------------

    def _hide(self, message: Message, seconds: float) -> Message:
        now_ms = int(time.time() * 1000)
        message.receive_count += 1
        message.first_receive_ms = message.first_receive_ms or now_ms
        message.receipt = f"rh-{message.message_id}-{message.receive_count}"
        message.visible_at = time.monotonic() + seconds
        self.by_receipt[message.receipt] = message
        self._push(message)
        return message

    def _push(self, message: Message) -> None:
        heapq.heappush(self.hidden, (message.visible_at, next(self._seq), message))
        if len(self.hidden) > 2 * len(self.by_receipt) + 1000:  # stale entries: compact
            self.hidden = [
                entry
                for entry in self.hidden
                if not entry[2].deleted and entry[2].visible_at == entry[0]
            ]
            heapq.heapify(self.hidden)

    def _show(self, message: Message) -> None:
        self.by_receipt.pop(message.receipt, None)
        message.visible_at = 0.0
        self.visible.append(message)
        self._wake()

    def _expire(self) -> None:
        """Messages whose visibility timeout ran out are visible again (lazy heap: an
        entry whose message was deleted, shown or hidden again since is skipped)."""
        now = time.monotonic()
        while self.hidden and self.hidden[0][0] <= now:
            visible_at, _, message = heapq.heappop(self.hidden)
            if message.deleted or message.visible_at != visible_at:
                continue
            self._show(message)

    async def _wait(self, seconds: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), seconds)
        except asyncio.TimeoutError:
            pass
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _well_formed(receipt: str) -> bool:
    return receipt.startswith("rh-")
