"""A received message as every consumer sees it, and the counters a consumer keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ConsumerStats", "Delivery"]


@dataclass(eq=False, slots=True)
class Delivery:
    """One message as a consumer received it from its broker.

    Attributes:
        message: the message as the broker's client gives it (what
            :func:`~fastapi_events.serialization.decode` reads).
        message_id: the broker's id of the message (SQS ``MessageId``, a stream entry id).
        deliveries: how many times the broker has delivered it, this time included.
        receipt: what the consumer acknowledges it with (SQS ``ReceiptHandle``, entry id).
        sent_at: when the broker took the message, in seconds since the epoch, if known.
        dead_lettered: set by the consumer once the message is dead-lettered: the
            acknowledgement that follows settles it for good (NATS terminates it).

    .. versionadded:: 1.0
    """

    message: Any
    message_id: str
    deliveries: int = 1
    receipt: Any = None
    sent_at: float | None = None
    dead_lettered: bool = False


@dataclass(slots=True)
class ConsumerStats:
    """What a consumer has done since it was created (counts of messages).

    Attributes:
        received: messages received from the broker.
        succeeded: messages whose event every handler took (then acknowledged).
        failed: deliveries on which a handler failed (each retry counts again).
        retried: messages given back for a later delivery after a failure.
        dead_lettered: messages given up on (to ``dead_letter`` and ``on_error``).
        duplicates: messages acknowledged unhandled: their event id was already handled.
        released: messages given back unhandled at shutdown, for redelivery.
        undecodable: messages that were not events this library writes (dead-lettered).

    .. versionadded:: 1.0
    """

    received: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    released: int = 0
    undecodable: int = 0
