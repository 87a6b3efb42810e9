"""Consume a Redis stream through a consumer group (extra ``redis``): what
:class:`~fastapi_events.handlers.redis.RedisStreamForwardHandler` appends, into your
handlers.

Importing this module does not import redis; constructing the consumer does.

.. versionadded:: 1.0
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._checks import check_text
from .._redact import capped_text, describe_handler
from ..handlers.redis import _import_redis
from ._delivery import Delivery
from ._options import check_seconds
from ._redis_claims import Claims, delivery_of
from .base import Consumer

__all__ = ["RedisStreamConsumer"]

logger = logging.getLogger(__name__)

_SOCKET_TIMEOUTS = {"socket_connect_timeout": 5.0}
_SCAN_INTERVAL = 1.0  # seconds between looks for entries stuck with dead consumers


class RedisStreamConsumer(Consumer):
    """Read a stream as one consumer of a consumer group and hand each entry's event to
    your handlers.

    New entries come with ``XREADGROUP`` (blocking up to ``block`` seconds). An entry is
    acknowledged (``XACK``) once every handler took its event. A failed entry stays
    pending under this consumer: its idle clock is reset and, after the backoff delay,
    this consumer claims it again (``XCLAIM``, one more delivery in the group's count).
    Entries idle for ``claim_idle`` seconds under any consumer (one that died) are taken
    over with ``XAUTOCLAIM``, their delivery count read from ``XPENDING``; an entry that
    failed on its ``max_deliveries``-th delivery is dead-lettered and acknowledged.
    At shutdown, entries not handled are given back: marked idle for ``claim_idle`` so
    that any consumer of the group takes them at once, their delivery not counted.

    ``claim_idle`` works like SQS's visibility timeout: handling must finish within it,
    or another consumer takes the entry while it is still being handled.

    Args:
        stream: the stream's key.
        handlers: the handler objects each event goes to.
        group: the consumer group (created at start if missing, with ``MKSTREAM``).
        consumer_name: this consumer's name in the group (default: host and pid); keep it
            stable across restarts so its pending entries come back to it.
        url: the Redis URL; credentials in it never appear in logs.
        client: a ``redis.asyncio.Redis`` to use instead of one from ``url`` (not closed).
        block: seconds one ``XREADGROUP`` waits for new entries.
        claim_idle: seconds an entry may stay pending before another consumer takes it.
        start_id: where a new group starts reading: ``"0"`` (the whole stream) or ``"$"``
            (only entries added from now on).
        redis_kwargs: more arguments for ``redis.asyncio.Redis.from_url``.
        **options: the options of :class:`~fastapi_events.consumers.Consumer`.

    Raises:
        ImportError: redis is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        consumer = RedisStreamConsumer("orders", group="billing", handlers=[local_handler])
        app = FastAPI(lifespan=consumer.lifespan)

    .. versionadded:: 1.0
    """

    messaging_system = "redis"

    def __init__(
        self,
        stream: str,
        *,
        handlers: Iterable[object],
        group: str,
        consumer_name: str | None = None,
        url: str = "redis://127.0.0.1:6379/0",
        client: Any = None,
        block: float = 2.0,
        claim_idle: float = 60.0,
        start_id: str = "0",
        redis_kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._redis = _import_redis()
        for name, value in (("stream", stream), ("group", group), ("url", url)):
            check_text(name, value)
        super().__init__(handlers=handlers, **options)
        self.stream = stream
        self.group = group
        self.consumer_name = consumer_name or f"{socket.gethostname()[:100]}-{os.getpid()}"
        self.block = check_seconds("block", block)
        self.claim_idle = check_seconds("claim_idle", claim_idle)
        self.start_id = start_id
        self._url = url  # may hold a password: kept out of repr and logs
        self._given_client = client
        # A blocked XREADGROUP must not look like a dead socket.
        timeouts = {**_SOCKET_TIMEOUTS, "socket_timeout": self.block + 10.0}
        self._redis_kwargs = {**timeouts, **(redis_kwargs or {})}
        self._client: Any = None
        self._claims = Claims(stream, group, self.consumer_name, self.claim_idle)
        self._next_scan = 0.0

    def describe(self) -> str:
        """The class, the stream and the group."""
        where = f"{self.stream} group {self.group}"
        return f"{describe_handler(self)}({capped_text(where, 160)})"

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Open the client and create the group if it does not exist."""
        client = self._given_client
        if client is None:
            client = self._redis.asyncio.Redis.from_url(self._url, **self._redis_kwargs)
        self._client = client
        try:
            await client.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except BaseException as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists: join it
                await self.disconnect()
                raise

    async def disconnect(self) -> None:
        """Close the client's connections (not those of a client passed in)."""
        client, self._client = self._client, None
        if client is not None and client is not self._given_client:
            await client.aclose()

    async def receive(self, max_messages: int) -> list[Delivery]:
        """Retries that are due, entries stuck with dead consumers, then new entries."""
        client, claims = self._client, self._claims
        deliveries = await claims.due_retries(client, max_messages)
        loop_time = time.monotonic()
        if len(deliveries) < max_messages and loop_time >= self._next_scan:
            self._next_scan = loop_time + min(_SCAN_INTERVAL, self.claim_idle)
            deliveries += await claims.stuck(client, max_messages - len(deliveries))
        if len(deliveries) < max_messages:
            deliveries += await self._read_new(max_messages - len(deliveries), not deliveries)
        return deliveries

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """``XACK`` the entries."""
        ids = [delivery.message_id for delivery in deliveries]
        await self._client.xack(self.stream, self.group, *ids)
        for entry_id in ids:
            self._claims.forget(entry_id)

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """Leave the entries pending, their idle clocks reset; claim them back when due."""
        ids = [delivery.message_id for delivery, _ in retries]
        await self._client.xclaim(self.stream, self.group, self.consumer_name, 0, ids, justid=True)
        for delivery, delay in retries:
            self._claims.retry_later(delivery.message_id, delivery.deliveries, delay)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Mark the entries idle for ``claim_idle`` (any consumer takes them at once), and
        undo the count of this delivery."""
        async with self._client.pipeline(transaction=False) as pipe:
            for delivery in deliveries:
                pipe.xclaim(
                    self.stream,
                    self.group,
                    self.consumer_name,
                    0,
                    [delivery.message_id],
                    idle=self._claims.claim_idle_ms,
                    retrycount=max(delivery.deliveries - 1, 0),
                    justid=True,
                )
            await pipe.execute()
        for delivery in deliveries:
            self._claims.forget(delivery.message_id)

    # --- helpers -------------------------------------------------------------------------

    async def _read_new(self, count: int, wait: bool) -> list[Delivery]:
        block = None
        if wait:
            due_in = self._claims.next_due_in()
            seconds = self.block if due_in is None else min(self.block, due_in)
            block = max(int(seconds * 1000), 1)
        response = await self._client.xreadgroup(
            self.group, self.consumer_name, {self.stream: ">"}, count=count, block=block
        )
        deliveries = [delivery_of(entry) for entry in _entries(response) if entry[1] is not None]
        self._claims.held.update(delivery.message_id for delivery in deliveries)
        return deliveries


def _entries(response: Any) -> list[Any]:
    """The entries of an ``XREADGROUP`` answer: ``[[stream, entries]]``."""
    return [entry for _, entries in response or () for entry in entries]
