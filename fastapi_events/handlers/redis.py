"""Forward events to Redis Streams (extra ``redis``).

Importing this module does not import redis; constructing the handler does, and the
connection is opened at startup or the first event.

Each event becomes one stream entry (``XADD``), whose fields are:

- ``body``: the message body, 0.12's JSON array ``["name", payload]`` by default;
- one field per message attribute: ``event_name``, ``event_id``, ``content_type``,
  ``correlation_id``, ``traceparent``, ``tracestate`` (see
  :mod:`fastapi_events.serialization`);
- with binary CloudEvents, each ``ce-`` attribute as a ``ce_`` field (``ce_id``,
  ``ce_type``, ``ce_source``...) and ``content-type``, as the Kafka binding names its
  headers: CloudEvents has no Redis binding, so this follows the nearest one.

A consumer turns an entry back into the event with
:func:`fastapi_events.serialization.decode` on its fields.

.. versionadded:: 1.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from .._event import Event
from .._received import stream_fields
from .._redact import capped_repr
from ..errors import ConfigurationError
from ..serialization import MessageFormat, Serializer
from ._batching import RetryPolicy
from ._outgoing import Failure, OutgoingMessage, SendResult
from .forwarder import Forwarder

__all__ = ["DEFAULT_MAXLEN", "REDIS_INSTALL_HINT", "RedisStreamForwardHandler", "StreamName"]

REDIS_INSTALL_HINT = (
    "Package 'redis' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[redis]'`"
)
#: Entries a stream keeps by default (trimmed approximately, oldest first).
DEFAULT_MAXLEN = 100_000
#: A stream name, or a function of the event giving one.
StreamName = str | Callable[[Event], str]
_SOCKET_TIMEOUTS = {"socket_connect_timeout": 5.0, "socket_timeout": 10.0}


def _import_redis() -> ModuleType:
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ImportError(REDIS_INSTALL_HINT) from exc
    return redis


class RedisStreamForwardHandler(Forwarder):
    """Append every event to a Redis stream with ``XADD``, one pipelined round trip per batch.

    Streams are trimmed with ``MAXLEN ~ maxlen`` (approximate trimming is cheap for Redis;
    pass ``approximate=False`` for an exact cap, ``maxlen=None`` for none). Trimming drops
    the oldest entries, read or not: size it above what consumers may lag behind.
    Connection and timeout errors are retried with backoff (a batch whose answer was lost
    may be written twice: consumers de-duplicate by the ``event_id`` field); an entry
    Redis refuses (``WRONGTYPE``...) is reported for its event only.

    Args:
        stream: the stream's key, or ``event -> key`` to route each event.
        url: the Redis URL (``redis://``, ``rediss://``, ``unix://``); credentials in it
            never appear in logs or health reports.
        maxlen: entries to keep per stream (``None``: no trimming).
        approximate: trim with ``~`` (whole macro nodes, cheaper) instead of exactly.
        serializer: ``(name, payload) -> str | bytes``, or a message format such as
            :class:`~fastapi_events.serialization.CloudEventsFormat`.
        max_batch_size: entries per pipeline.
        max_batch_bytes: bytes per pipeline (``None``: no limit).
        retry: backoff for connection and timeout errors.
        client: a ``redis.asyncio.Redis`` to use instead of one from ``url``; the handler
            then does not close it.
        **redis_kwargs: for ``redis.asyncio.Redis.from_url`` (default timeouts: 5 s to
            connect, 10 s per command).

    Raises:
        ImportError: redis is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        handler = RedisStreamForwardHandler("events", url="redis://127.0.0.1:6379/0")
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    .. versionadded:: 1.0
    """

    messaging_system = "redis"
    log = logging.getLogger(__name__)

    def __init__(
        self,
        stream: StreamName,
        *,
        url: str = "redis://127.0.0.1:6379/0",
        maxlen: int | None = DEFAULT_MAXLEN,
        approximate: bool = True,
        serializer: Serializer | MessageFormat | None = None,
        max_batch_size: int = 500,
        max_batch_bytes: int | None = None,
        retry: RetryPolicy | None = None,
        client: Any = None,
        **redis_kwargs: Any,
    ) -> None:
        self._redis = _import_redis()
        super().__init__(
            stream,
            serializer=serializer,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_batch_bytes,
            retry=retry,
        )
        if maxlen is not None and (
            isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1
        ):
            raise ConfigurationError(
                f"maxlen must be an int >= 1 or None, got {capped_repr(maxlen)}"
            )
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"url must be a Redis URL, got a {type(url).__name__}")
        self.stream = stream
        self.maxlen = maxlen
        self.approximate = approximate
        self._url = url  # may hold a password: kept out of repr, logs and health
        self._given_client = client
        self._redis_kwargs = {**_SOCKET_TIMEOUTS, **redis_kwargs}

    async def connect(self) -> Any:
        """Open a client from ``url`` and check it answers ``PING``."""
        if self._given_client is not None:
            return self._given_client
        client = self._redis.asyncio.Redis.from_url(self._url, **self._redis_kwargs)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        return client

    async def disconnect(self, client: Any) -> None:
        """Close the client's connections (not those of a client passed in)."""
        if client is not self._given_client:
            await client.aclose()

    async def ping(self, client: Any) -> None:
        """``PING``."""
        await client.ping()

    def is_transient(self, exc: Exception) -> bool:
        """Connection and timeout errors (redis's own, and the OS's)."""
        errors = self._redis.exceptions
        return isinstance(exc, (errors.ConnectionError, errors.TimeoutError)) or (
            super().is_transient(exc)
        )

    async def send(
        self, client: Any, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult:
        """``XADD`` every message in one pipeline; a refused entry fails alone."""
        async with client.pipeline(transaction=False) as pipe:
            for message in batch:
                pipe.xadd(
                    destination,
                    _fields(message),
                    maxlen=self.maxlen,
                    approximate=self.approximate,
                )
            results = await pipe.execute(raise_on_error=False)
        return SendResult(
            [
                Failure(message, result, retryable=self.is_transient(result))
                for message, result in zip(batch, results, strict=True)
                if isinstance(result, Exception)
            ]
        )


def _fields(message: OutgoingMessage) -> Mapping[str, bytes | str]:
    return stream_fields(message.body, message.attributes)
