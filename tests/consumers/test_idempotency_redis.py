"""RedisIdempotencyStore against the real Redis on 127.0.0.1: ids shared between workers
and across a restart, with an expiry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio

from fastapi_events._event import Event
from fastapi_events.consumers.idempotency_redis import RedisIdempotencyStore
from fastapi_events.errors import ConfigurationError
from tests.consumers.kit import scripted, until
from tests.consumers.test_redis import consumer_for, forward

pytestmark = [pytest.mark.anyio, pytest.mark.broker]


def store(redis_url: str, **options: Any) -> RedisIdempotencyStore:
    """A store with a prefix of its own, so tests never see each other's ids."""
    options.setdefault("prefix", f"test:{uuid.uuid4().hex}:")
    return RedisIdempotencyStore(redis_url, **options)


async def test_an_id_one_worker_remembered_is_seen_by_another(redis_url: str) -> None:
    """Two stores on one prefix (two workers): what one remembers the other sees; an id
    nobody remembered is not seen; the key expires after ttl."""
    first = store(redis_url, ttl=60)
    second = RedisIdempotencyStore(redis_url, prefix=first.prefix)
    assert not await second.seen("e-1")
    await first.remember("e-1")
    assert (await second.seen("e-1"), await second.seen("e-2")) == (True, False)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert 0 < await client.pttl(f"{first.prefix}e-1") <= 60_000
        await client.delete(f"{first.prefix}e-1")
    finally:
        await client.aclose()
    await first.aclose()
    await second.aclose()


async def test_a_redelivered_event_is_acked_unhandled_after_a_restart(
    redis_url: str, redis_stream: Callable[..., str]
) -> None:
    """A worker handles an event; the same event arrives again and a new worker (a new
    store, the same prefix) acknowledges it without handling it."""
    stream = redis_stream()
    prefix = f"test:{uuid.uuid4().hex}:"
    event = Event("order.paid", {"order": 1})
    await forward(stream, redis_url, [event])
    handler, calls = scripted()
    original = store(redis_url, prefix=prefix)
    async with consumer_for(stream, redis_url, [handler], deduplicate=original):
        await until(lambda: calls.finished)
    await original.aclose()
    await forward(stream, redis_url, [event])  # delivered again: same event id
    restarted = store(redis_url, prefix=prefix)
    second = consumer_for(stream, redis_url, [handler], deduplicate=restarted)
    async with second:
        await until(lambda: second.stats.duplicates == 1)
    assert [e.id for e in calls.finished] == [event.id]
    assert second.stats.succeeded == 0
    await restarted.aclose()


@pytest.mark.parametrize(
    ("options", "message"),
    [({"ttl": 0}, "ttl"), ({"ttl": "1"}, "ttl"), ({"prefix": 5}, "prefix"), ({"url": ""}, "url")],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    """Each option is checked at construction; the error names it."""
    with pytest.raises(ConfigurationError, match=message):
        RedisIdempotencyStore(**options)
