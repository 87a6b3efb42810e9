"""The queues and exchanges of :class:`~fastapi_events.consumers.RabbitMQConsumer`, its
retry delays, and what it reads from and writes into a message's headers.

Retries go through the broker: a failed message is published again (a copy, headers and
properties kept, :data:`RETRIES_HEADER` counting the retries) to the retry exchange
``<queue>.retry`` with its delay in milliseconds as the routing key; the retry queue
``<queue>.retry.<ms>`` bound there holds it ``<ms>`` (``x-message-ttl``), then dead-letters it
through the default exchange back to ``<queue>`` (``x-dead-letter-exchange: ""``,
``x-dead-letter-routing-key: <queue>``). Delays are rounded up to a power of two
milliseconds (at most ``max_backoff``), so a handful of retry queues serve every backoff.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

from ..errors import ConfigurationError
from ._delivery import Delivery
from ._handling import IN_FLIGHT_PAUSE
from ._options import Backoff

__all__ = [
    "DELIVERY_COUNT_HEADER",
    "RETRIES_HEADER",
    "Topology",
    "check_names",
    "delivery_of",
    "retry_bucket",
    "retry_buckets",
    "retry_copy",
]

#: The header counting how many times the consumer sent a message to be retried.
RETRIES_HEADER = "fastapi_events_retries"
#: The header quorum queues count a message's returns in (nacks, lost consumers).
DELIVERY_COUNT_HEADER = "x-delivery-count"
_KEPT_PROPERTIES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "message_id",
    "timestamp",
    "type",
    "app_id",
)  # not expiration (it would drop the copy) nor user_id (checked against the login)


def retry_bucket(delay: float, cap: float) -> int:
    """``delay`` seconds rounded up to a power of two milliseconds, but not past ``cap``
    (unless ``delay`` itself is longer)."""
    ms = max(0, math.ceil(delay * 1000))
    power = 1 << (ms - 1).bit_length() if ms > 1 else ms
    return min(power, max(ms, math.ceil(cap * 1000)))


def retry_buckets(backoff: Backoff) -> tuple[int, ...]:
    """Every delay (ms) a consumer with ``backoff`` may retry with."""
    found = {retry_bucket(IN_FLIGHT_PAUSE, backoff.cap), retry_bucket(backoff.cap, backoff.cap)}
    if backoff.base == 0:
        found.add(0)
    else:
        bucket = retry_bucket(backoff.base / 2, backoff.cap)
        while bucket < backoff.cap * 1000:
            found.add(bucket)
            bucket = retry_bucket(bucket * 2 / 1000, backoff.cap)
    return tuple(sorted(found))


@dataclass
class Topology:
    """The work queue, its bindings, the retry exchange and queues; declared by
    :meth:`prepare` (or, with ``declare=False``, only checked)."""

    queue: str
    exchange: str
    exchange_type: str
    routing_keys: Sequence[str]
    declare: bool
    arguments: Mapping[str, Any]
    _retry_queues: set[int] = field(default_factory=set)

    @property
    def retry_exchange(self) -> str:
        """The exchange retries are published to."""
        return f"{self.queue}.retry"

    def retry_queue(self, bucket: int) -> str:
        """The queue holding retries of ``bucket`` milliseconds."""
        return f"{self.queue}.retry.{bucket}"

    async def prepare(self, channel: Any) -> Any:
        """Declare (or passively check) the work queue and bind it; the queue object."""
        if not self.declare:
            return await channel.declare_queue(self.queue, passive=True)
        queue = await channel.declare_queue(
            self.queue, durable=True, arguments=dict(self.arguments)
        )
        if self.exchange:
            await channel.declare_exchange(self.exchange, self.exchange_type, durable=True)
            for key in self.routing_keys:
                await queue.bind(self.exchange, key)
        return queue

    async def ensure_retry_queue(self, channel: Any, bucket: int) -> None:
        """Declare the retry queue of ``bucket`` ms (once per consumer) and bind it."""
        if not self.declare or bucket in self._retry_queues:
            return
        arguments = {
            "x-message-ttl": bucket,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.queue,
        }
        queue = await channel.declare_queue(
            self.retry_queue(bucket), durable=True, arguments=arguments
        )
        await queue.bind(self.retry_exchange, str(bucket))
        self._retry_queues.add(bucket)

    def forget(self) -> None:
        """A new channel: declare the retry queues again as they are used."""
        self._retry_queues.clear()


def delivery_of(message: Any, queue: str) -> Delivery:
    """A received aio-pika message as the consumer base sees it: its deliveries are this
    one, plus the retries sent (:data:`RETRIES_HEADER`), plus a quorum queue's count of
    returns (:data:`DELIVERY_COUNT_HEADER`)."""
    headers = message.headers or {}
    deliveries = (
        1 + _count(headers.get(RETRIES_HEADER)) + _count(headers.get(DELIVERY_COUNT_HEADER))
    )
    stamp = message.timestamp
    if isinstance(stamp, datetime) and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return Delivery(
        message,
        message.message_id or f"{queue}:{message.delivery_tag}",
        deliveries,
        message,
        stamp.timestamp() if isinstance(stamp, datetime) else None,
    )


def retry_copy(aio_pika: ModuleType, delivery: Delivery) -> Any:
    """The message to publish for ``delivery``'s retry: the same body, headers and
    properties, one more retry counted."""
    message = delivery.message
    headers = dict(message.headers or {})
    headers[RETRIES_HEADER] = _count(headers.get(RETRIES_HEADER)) + 1
    properties = {name: getattr(message, name, None) for name in _KEPT_PROPERTIES}
    return aio_pika.Message(message.body, headers=headers, **properties)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, bytes)):
        return 0
    try:
        return max(int(value), 0)
    except ValueError:
        return 0


def check_names(queue: object, routing_keys: object, arguments: object) -> None:
    if not isinstance(queue, str) or not queue:
        raise ConfigurationError(
            f"queue must be a non-empty str (the queue's name), got {type(queue).__name__}"
        )
    if isinstance(routing_keys, (str, bytes)) or not isinstance(routing_keys, Sequence):
        raise ConfigurationError(
            f"routing_keys must be a list of str (e.g. ['order.*']), "
            f"got {type(routing_keys).__name__}"
        )
    if not all(isinstance(key, str) for key in routing_keys):
        raise ConfigurationError("routing_keys must hold only str binding keys")
    if arguments is not None and not isinstance(arguments, Mapping):
        raise ConfigurationError(
            f"queue_arguments must be a dict of x- arguments, got {type(arguments).__name__}"
        )
