"""RedisStreamConsumer against a real Redis server on 127.0.0.1 (unique stream names)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.consumers import UNDECODABLE_EVENT, RedisStreamConsumer
from fastapi_events.errors import ConfigurationError, RedeliveryLimitError
from fastapi_events.handlers.redis import RedisStreamForwardHandler
from fastapi_events.serialization import CloudEventsFormat, MessageFormat
from tests.consumers.kit import scripted, until

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

GROUP = "workers"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Any]:
    """A client of the test server, to look at streams and groups."""
    connection = redis.asyncio.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


def consumer_for(stream: str, url: str, handlers: list[Any], **options: Any) -> RedisStreamConsumer:
    """A consumer of ``stream`` with short blocks and immediate retries."""
    options.setdefault("backoff", 0)
    options.setdefault("block", 0.1)
    options.setdefault("consumer_name", "test-consumer")
    return RedisStreamConsumer(stream, handlers=handlers, group=GROUP, url=url, **options)


async def forward(
    stream: str, url: str, events: list[Event], serializer: MessageFormat | None = None
) -> None:
    """Append ``events`` to ``stream`` with the Redis forwarder."""
    forwarder = RedisStreamForwardHandler(stream, url=url, serializer=serializer)
    async with event_scope(handlers=[forwarder]) as buffer:
        for event in events:
            buffer.add(event)
    await forwarder.aclose()


async def pending(client: Any, stream: str) -> list[dict[str, Any]]:
    """The group's pending entries (XPENDING)."""
    result: list[dict[str, Any]] = await client.xpending_range(stream, GROUP, "-", "+", 100)
    return result


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/orders", mode="binary")],
    ids=["json-array", "cloudevents-binary"],
)
async def test_entries_come_back_as_the_dispatched_events_and_are_acked(
    redis_url: str, redis_stream: Callable[..., str], client: Any, serializer: Any
) -> None:
    """Id, name, payload and correlation id survive the stream; XACK after success."""
    stream = redis_stream()
    sent = [Event("order.paid", {"order": i}, correlation_id="c-9") for i in range(3)]
    await forward(stream, redis_url, sent, serializer)
    handler, calls = scripted()
    async with consumer_for(stream, redis_url, [handler]):
        await until(lambda: len(calls.finished) == 3)
    got = [(e.id, e.name, e.payload, e.correlation_id) for e in calls.finished]
    assert got == [(e.id, "order.paid", e.payload, "c-9") for e in sent]
    assert await pending(client, stream) == []


async def test_failing_twice_then_succeeding_is_claimed_back_twice(
    redis_url: str, redis_stream: Callable[..., str], client: Any
) -> None:
    """A failed entry stays pending, is claimed again (XCLAIM) and acked on success."""
    stream = redis_stream()
    sent = Event("order.paid", {"order": 1})
    await forward(stream, redis_url, [sent])
    handler, calls = scripted(2)
    consumer = consumer_for(stream, redis_url, [handler])
    async with consumer:
        await until(lambda: calls.finished)
    assert calls.count(sent.id) == 3
    assert (consumer.stats.retried, consumer.stats.succeeded) == (2, 1)
    assert await pending(client, stream) == []


async def test_always_failing_is_dead_lettered_after_max_deliveries(
    redis_url: str, redis_stream: Callable[..., str], client: Any
) -> None:
    """Three deliveries (counted by the group), then dead-lettered and acknowledged."""
    stream = redis_stream()
    sent = Event("order.paid", {"order": 1})
    await forward(stream, redis_url, [sent])
    handler, calls = scripted(99)
    dead, buried = scripted()
    consumer = consumer_for(stream, redis_url, [handler], max_deliveries=3, dead_letter=dead)
    async with consumer:
        await until(lambda: buried.finished)
    assert calls.count(sent.id) == 3
    assert [e.id for e in buried.finished] == [sent.id]
    assert await pending(client, stream) == []


async def test_entries_stuck_with_a_dead_consumer_are_taken_over(
    redis_url: str, redis_stream: Callable[..., str], client: Any
) -> None:
    """XAUTOCLAIM takes entries idle past claim_idle; their delivery count comes along."""
    stream = redis_stream()
    events = [Event("order.paid", {"order": i}) for i in range(2)]
    await forward(stream, redis_url, events)
    await client.xgroup_create(stream, GROUP, id="0")
    await client.xreadgroup(GROUP, "crashed", {stream: ">"}, count=1)  # then died
    await asyncio.sleep(0.3)
    handler, calls = scripted()
    errors: list[tuple[Event, Any, BaseException]] = []
    consumer = consumer_for(
        stream,
        redis_url,
        [handler],
        claim_idle=0.2,
        max_deliveries=1,  # the crashed delivery counts: the stuck entry is over the limit
        on_error=lambda *failure: errors.append(failure),
    )
    async with consumer:
        await until(lambda: calls.finished and errors)
    assert [e.id for e in calls.finished] == [events[1].id]
    [(event, failed, exc)] = errors
    assert (event.id, failed, type(exc)) == (events[0].id, None, RedeliveryLimitError)
    assert isinstance(exc, RedeliveryLimitError) and exc.deliveries == 2
    assert await pending(client, stream) == []


async def test_stop_gives_back_entries_for_any_consumer_at_once(
    redis_url: str, redis_stream: Callable[..., str], client: Any
) -> None:
    """An entry cancelled at stop is idle past claim_idle, its delivery uncounted."""
    stream = redis_stream()
    sent = Event("order.paid", {"order": 1})
    await forward(stream, redis_url, [sent])
    stuck, calls = scripted(gate=asyncio.Event())  # never finishes
    first = consumer_for(stream, redis_url, [stuck], claim_idle=30)
    await first.start()
    await until(lambda: calls.started)
    await first.stop(timeout=0.1)
    [entry] = await pending(client, stream)
    assert entry["times_delivered"] == 0
    handler, second_calls = scripted()
    second = consumer_for(stream, redis_url, [handler], claim_idle=30, consumer_name="other")
    async with second:
        await until(lambda: second_calls.finished)
    assert [e.id for e in second_calls.finished] == [sent.id]
    assert await pending(client, stream) == []


async def test_a_binary_entry_reaches_dead_letter_as_base64(
    redis_url: str, redis_stream: Callable[..., str], client: Any
) -> None:
    """An entry whose body is not UTF-8 (nor an event) is kept whole, base64-encoded."""
    stream = redis_stream()
    await client.xadd(stream, {"body": b"\xff\xfe\x00"})
    dead, buried = scripted()
    consumer = consumer_for(stream, redis_url, [scripted()[0]], dead_letter=dead)
    async with consumer:
        await until(lambda: buried.finished)
    [stand_in] = buried.finished
    assert (stand_in.name, stand_in.payload["encoding"]) == (UNDECODABLE_EVENT, "base64")
    assert base64.b64decode(stand_in.payload["body"]) == b"\xff\xfe\x00"
    assert await pending(client, stream) == []


async def test_an_existing_group_is_joined(
    redis_url: str, redis_stream: Callable[..., str]
) -> None:
    """Starting against a group that exists (BUSYGROUP) is fine."""
    stream = redis_stream()
    handler, _ = scripted()
    for _ in range(2):
        async with consumer_for(stream, redis_url, [handler]):
            pass


def test_a_stream_name_is_required() -> None:
    """An empty stream name is refused at construction."""
    with pytest.raises(ConfigurationError, match="stream"):
        RedisStreamConsumer("", handlers=[scripted()[0]], group=GROUP)


def test_a_url_that_is_not_a_str_is_named_by_type_not_echoed() -> None:
    """A bytes url (it may hold a password) is refused by its type; its content stays out."""
    with pytest.raises(ConfigurationError, match="url must be a non-empty str, got bytes") as info:
        RedisStreamConsumer("s", handlers=[scripted()[0]], group=GROUP, url=b"redis://:pw@h")
    assert "pw" not in str(info.value)


async def test_litestar_lifespan_consumes_while_the_app_runs(
    redis_url: str, redis_stream: Callable[..., str]
) -> None:
    """Litestar(lifespan=[consumer.lifespan]) consumes from startup to shutdown."""
    from litestar import Litestar
    from litestar.testing import AsyncTestClient

    stream = redis_stream()
    await forward(stream, redis_url, [Event("order.paid", {"order": 1})])
    handler, calls = scripted()
    consumer = consumer_for(stream, redis_url, [handler])
    async with AsyncTestClient(Litestar(route_handlers=[], lifespan=[consumer.lifespan])):
        await until(lambda: calls.finished)
        assert consumer.running
    assert not consumer.running
