"""Counting a Pub/Sub message's deliveries where Pub/Sub does not.

Pub/Sub counts deliveries (``delivery_attempt``) only on a subscription with a dead-letter
policy. Elsewhere the consumer counts the deliveries it saw fail, by message id, in this
process: enough for ``max_deliveries`` while one worker gets the message back, blind to
deliveries another worker (or this one before a restart) saw.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["DEFAULT_MAX_TRACKED", "Attempts"]

#: Message ids whose failed deliveries a consumer remembers (least recently failed
#: forgotten first).
DEFAULT_MAX_TRACKED = 10_000


class Attempts:
    """Failed deliveries per message id, for the messages waiting for a retry."""

    def __init__(self, max_tracked: int = DEFAULT_MAX_TRACKED) -> None:
        self._failed: OrderedDict[str, int] = OrderedDict()
        self._max = max_tracked

    def delivery(self, message_id: str, counted: int | None) -> int:
        """The delivery number of a message received now: Pub/Sub's ``counted`` when it
        has one, else one more than the deliveries seen failing here."""
        if counted:
            return counted
        failed = self._failed
        return failed.get(message_id, 0) + 1 if failed else 1

    def failed(self, message_id: str, deliveries: int) -> None:
        """The message's ``deliveries``-th delivery failed; it comes back for another."""
        self._failed[message_id] = deliveries
        self._failed.move_to_end(message_id)
        if len(self._failed) > self._max:
            self._failed.popitem(last=False)

    def forget(self, message_id: str) -> None:
        """The message was acknowledged: no more deliveries to count."""
        if self._failed:
            self._failed.pop(message_id, None)

    def __len__(self) -> int:
        return len(self._failed)
