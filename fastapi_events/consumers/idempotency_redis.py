"""An :class:`~fastapi_events.consumers.IdempotencyStore` on Redis (extra ``redis``):
the handled event ids shared by every worker, kept across restarts for ``ttl`` seconds.

Importing this module does not import redis-py; constructing the store does.

.. versionadded:: 1.0
"""

from __future__ import annotations

from typing import Any

from .._checks import check_seconds
from .._redact import capped_repr
from ..errors import ConfigurationError
from ..handlers.redis import _import_redis
from .idempotency import IdempotencyStore

__all__ = ["DEFAULT_TTL", "RedisIdempotencyStore"]

#: Seconds a handled event id is remembered by default (a week: longer than any
#: broker's redelivery or retention window a duplicate could come from).
DEFAULT_TTL = 7 * 24 * 3600.0


class RedisIdempotencyStore(IdempotencyStore):
    """Handled event ids as Redis keys ``<prefix><event id>`` expiring after ``ttl``.

    Args:
        url: the Redis URL (kept out of ``repr`` and logs: it may hold a password).
        client: a ``redis.asyncio.Redis`` of yours instead (not closed by :meth:`aclose`).
        prefix: the keys' prefix.
        ttl: seconds each id is remembered.

    Example::

        consumer = SQSConsumer(url, handlers=[local_handler],
                               deduplicate=RedisIdempotencyStore("redis://cache:6379/0"))

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Any = None,
        prefix: str = "fastapi_events:handled:",
        ttl: float = DEFAULT_TTL,
    ) -> None:
        self._redis = _import_redis()
        for name, value in (("url", url), ("prefix", prefix)):
            if not isinstance(value, str) or (name == "url" and not value):
                raise ConfigurationError(
                    f"{name} must be a str, got {capped_repr(value)} ({type(value).__name__})"
                )
        self.prefix = prefix
        self.ttl = check_seconds("ttl", ttl)
        self._url = url
        self._given = client
        self._client: Any = client

    def _connection(self) -> Any:
        if self._client is None:
            self._client = self._redis.asyncio.Redis.from_url(self._url)
        return self._client

    async def seen(self, event_id: str) -> bool:
        """True if ``event_id`` was remembered (by any worker) and has not expired."""
        return bool(await self._connection().exists(self.prefix + event_id))

    async def remember(self, event_id: str) -> None:
        """Remember ``event_id`` for ``ttl`` seconds."""
        await self._connection().set(self.prefix + event_id, b"1", px=int(self.ttl * 1000))

    async def aclose(self) -> None:
        """Close the client this store made (a client you passed is yours to close)."""
        client, self._client = self._client, self._given
        if client is not None and client is not self._given:
            await client.aclose()

    def __repr__(self) -> str:
        return f"RedisIdempotencyStore(prefix={self.prefix!r}, ttl={self.ttl!r})"
