"""App A under a real uvicorn dispatches -> Redis Streams forwarder -> Redis ->
RedisStreamConsumer in a worker process -> a local handler; SIGTERM mid-batch (the
harness: e2e_kit.py). Failing twice, and dead-lettering after N deliveries, are covered
against the real server at the consumer level in test_redis.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis.asyncio

from tests.consumers.e2e_kit import Harness, assert_exactly_once, handled_by, sigterm_mid_batch
from tests.consumers.test_redis import GROUP, consumer_for, pending

pytestmark = [pytest.mark.anyio, pytest.mark.broker]


async def test_worker_sees_app_a_events_with_linked_traces_and_sigterm_loses_nothing(
    redis_url: str, redis_stream: Callable[..., str], e2e: Harness
) -> None:
    """Same id, name, payload and correlation id in the worker, its handler spans linked
    to app A's dispatch spans; SIGTERM while one entry is stuck: the others were acked,
    the stuck one stays pending, free for the next consumer; by event id, nothing lost."""
    stream = redis_stream()
    app_a = e2e.app_a("redis", REDIS_URL=redis_url)
    worker = e2e.worker("redis", STREAM=stream, GROUP=GROUP, REDIS_URL=redis_url)
    sent, finished = await sigterm_mid_batch(app_a, worker, to=stream)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        [entry] = await pending(client, stream)  # the stuck one, its delivery not counted
        assert (entry["consumer"], entry["times_delivered"]) == (b"e2e-worker", 0)
        rest = await handled_by(
            lambda handlers: consumer_for(stream, redis_url, handlers, claim_idle=30), 1
        )
        assert_exactly_once(sent, finished, rest)
        assert await pending(client, stream) == []
    finally:
        await client.aclose()
