"""RabbitMQConsumer against a real RabbitMQ broker on 127.0.0.1 (unique names, deleted)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.consumers import UNDECODABLE_EVENT, Delivery, RabbitMQConsumer
from fastapi_events.consumers._rabbitmq_topology import RETRIES_HEADER, retry_bucket
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler
from fastapi_events.serialization import CloudEventsFormat, MessageFormat
from tests.accounting import Ledger
from tests.consumers.kit import Calls, scripted, until
from tests.servers.rabbitmq_server import CLEANUP_TIMEOUT, Topology
from tests.servers.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
MakeConsumer = Callable[..., RabbitMQConsumer]


@pytest.fixture
async def source(rabbitmq: Topology) -> str:
    """A unique exchange the forwarder publishes to."""
    return await rabbitmq.exchange()


@pytest.fixture
async def make_consumer(rabbitmq: Topology, source: str) -> AsyncIterator[MakeConsumer]:
    """Consumers of a unique queue bound to ``source``, retrying at once by default;
    everything they declare is deleted after the test, and they are stopped."""
    made: list[RabbitMQConsumer] = []
    queue = f"fastapi-events-test.cq.{uuid.uuid4().hex[:12]}"

    def make(handlers: list[Any], **options: Any) -> RabbitMQConsumer:
        options.setdefault("backoff", 0)
        options.setdefault("exchange", source)
        options.setdefault("url", rabbitmq.url)
        consumer = RabbitMQConsumer(queue, handlers=handlers, **options)
        rabbitmq.queues += [queue, *map(consumer.topology.retry_queue, consumer.retry_delays)]
        rabbitmq.exchanges.append(consumer.topology.retry_exchange)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        await asyncio.wait_for(consumer.stop(0), CLEANUP_TIMEOUT)


async def forward(
    url: str, exchange: str, events: list[Event], serializer: MessageFormat | None = None
) -> None:
    """Publish ``events`` with the RabbitMQ forwarder (each must reach a queue)."""
    forwarder = RabbitMQForwardHandler(exchange=exchange, url=url, serializer=serializer)
    failures: list[Any] = []
    async with event_scope(handlers=[forwarder], on_error=lambda *f: failures.append(f)) as buf:
        for event in events:
            buf.add(event)
    await forwarder.aclose()
    assert failures == []


async def depth(rabbitmq: Topology, queue: str) -> int:
    """Messages ready in ``queue`` (a passive declaration; unacknowledged ones excluded)."""
    channel = await rabbitmq.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await channel.close()
    count: int = declared.declaration_result.message_count
    return count


def _spy(consumer: RabbitMQConsumer) -> list[Delivery]:
    """Every delivery ``consumer`` receives, in order."""
    seen: list[Delivery] = []
    receive = consumer.receive

    async def spy(max_messages: int) -> list[Delivery]:
        deliveries = await receive(max_messages)
        seen.extend(deliveries)
        return deliveries

    consumer.receive = spy  # type: ignore[method-assign]
    return seen


def order(i: int, **metadata: Any) -> Event:
    return Event("order.paid", {"order": i}, **metadata)


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/orders"), CloudEventsFormat("/orders", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_every_body_comes_back_as_the_dispatched_event(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer, serializer: Any
) -> None:
    """Id, name, payload, correlation id and trace context survive the broker; acked."""
    handler, calls = scripted()
    consumer = make_consumer([handler])
    sent = [order(i, correlation_id="corr-1", trace_context=TRACE) for i in range(3)]
    async with consumer:
        await forward(rabbitmq.url, source, sent, serializer)
        await until(lambda: len(calls.finished) == 3)
    got = [(e.id, e.name, e.payload, e.correlation_id) for e in calls.finished]
    assert sorted(got) == sorted((e.id, "order.paid", e.payload, "corr-1") for e in sent)
    assert all(dict(e.trace_context or {}) == TRACE for e in calls.finished)
    if serializer is not None:  # CloudEvents carry the dispatch time itself
        assert sorted(e.timestamp for e in calls.finished) == sorted(e.timestamp for e in sent)
    assert await depth(rabbitmq, consumer.queue) == 0


async def test_failing_twice_then_succeeding_goes_through_the_retry_queue_twice(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """Each failure publishes a copy to the retry queue (counted in a header) and acks
    the original; the third delivery succeeds and is the only one finished."""
    handler, calls = scripted(2)
    consumer = make_consumer([handler])
    received = _spy(consumer)
    sent = order(7)
    async with consumer:
        await forward(rabbitmq.url, source, [sent])
        await until(lambda: calls.finished)
    assert (calls.count(sent.id), calls.finished_ids) == (3, {sent.id: 1})
    assert [d.deliveries for d in received] == [1, 2, 3]
    assert [d.message.headers.get(RETRIES_HEADER) for d in received] == [None, 1, 2]
    assert {d.message.message_id for d in received} == {sent.id}
    assert (consumer.stats.received, consumer.stats.retried, consumer.stats.succeeded) == (3, 2, 1)
    assert await depth(rabbitmq, consumer.queue) == 0
    assert await depth(rabbitmq, consumer.topology.retry_queue(0)) == 0


async def test_always_failing_is_dead_lettered_after_max_deliveries(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """Odd orders always fail: three deliveries each, then dead-lettered once; even ones
    are handled once. By event id: handled + dead-lettered = dispatched, none in two."""
    sent = [order(i) for i in range(6)]
    handler, calls = scripted(lambda event: 99 if event.payload["order"] % 2 else 0)
    dead, buried = scripted()
    ledger = Ledger()
    consumer = make_consumer(
        [handler], max_deliveries=3, dead_letter=dead, on_error=ledger.on_error, concurrency=4
    )
    async with consumer:
        await forward(rabbitmq.url, source, sent)
        await until(lambda: len(calls.finished) == 3 and len(buried.finished) == 3)
    ledger.handled = [e.id for e in calls.finished]
    ledger.assert_exact(dispatched=len(sent))
    assert sorted(ledger.reported_ids()) == sorted(e.id for e in buried.finished)
    assert all(calls.count(e.id) == 3 for e in sent if e.payload["order"] % 2)
    assert consumer.stats.dead_lettered == 3
    assert await depth(rabbitmq, consumer.queue) == 0


async def test_a_retry_waits_in_its_retry_queue_for_the_backoff(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """backoff=1.024: the retry sits in <queue>.retry.1024 while a later event is handled
    first, then comes back with its retry counted."""
    handler, calls = scripted(lambda event: 1 if event.payload["order"] == 1 else 0)
    consumer = make_consumer([handler], backoff=1.024)
    first, second = order(1), order(2)
    async with consumer:
        await forward(rabbitmq.url, source, [first])
        await until(lambda: consumer.stats.retried == 1)
        await forward(rabbitmq.url, source, [second])
        await until(lambda: len(calls.finished) == 2)
    assert [e.id for e in calls.finished] == [second.id, first.id]
    assert retry_bucket(1.024, consumer.backoff.cap) in consumer.retry_delays
    assert await depth(rabbitmq, consumer.topology.retry_queue(1024)) == 0


async def test_stop_mid_batch_acks_nothing_unhandled_and_a_restart_loses_nothing(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """Two of five never finish before stop: they go back to the queue (the others were
    acknowledged) and the next consumer handles exactly those."""
    sent = [order(i) for i in range(5)]
    gate = asyncio.Event()  # never opened
    held = {sent[1].id, sent[3].id}
    first_calls, (handler, calls) = Calls(), scripted()
    first = make_consumer([_gated(gate, held, first_calls)], concurrency=5)
    await first.start()
    await forward(rabbitmq.url, source, sent)
    await until(lambda: len(first_calls.started) == 5 and len(first_calls.finished) == 3)
    await first.stop(timeout=0.1)
    assert first.stats.released == 2
    assert await depth(rabbitmq, first.queue) == 2
    second = make_consumer([handler])
    async with second:
        await until(lambda: len(calls.finished) == 2)
    assert {e.id for e in calls.finished} == held
    ledger = Ledger()
    ledger.handled = [e.id for e in first_calls.finished + calls.finished]
    ledger.assert_exact(dispatched=len(sent))
    assert await depth(rabbitmq, first.queue) == 0


def _gated(gate: asyncio.Event, held: set[str], calls: Calls) -> LocalHandler:
    """A local handler recording into ``calls`` that waits for ``gate`` on ``held`` ids."""
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def work(event: Event) -> None:
        calls.started.append(event)
        if event.id in held:
            await gate.wait()
        calls.finished.append(event)

    return handler


async def test_deduplicate_acknowledges_a_second_copy_unhandled(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """The same event published twice is handled once; both copies are acknowledged."""
    handler, calls = scripted()
    consumer = make_consumer([handler], deduplicate=True)
    sent = order(3)
    async with consumer:
        await forward(rabbitmq.url, source, [sent])
        await until(lambda: calls.finished)
        await forward(rabbitmq.url, source, [sent])
        await until(lambda: consumer.stats.duplicates == 1)
    assert calls.count(sent.id) == 1
    assert await depth(rabbitmq, consumer.queue) == 0


async def test_a_message_that_is_no_event_reaches_the_dead_letter_handler(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """A foreign body is dead-lettered at once, raw body and headers kept."""
    dead, buried = scripted()
    consumer = make_consumer([scripted()[0]], dead_letter=dead)
    async with consumer:
        channel = await rabbitmq.channel()
        exchange = await channel.get_exchange(source)
        await exchange.publish(aio_pika.Message(b"\xff not json", headers={"k": "v"}), "x")
        await channel.close()
        await until(lambda: buried.finished)
    [stand_in] = buried.finished
    assert (stand_in.name, stand_in.payload["encoding"]) == (UNDECODABLE_EVENT, "base64")
    assert stand_in.payload["attributes"] == {"k": "v"}
    assert consumer.stats.undecodable == 1


async def test_with_declare_false_a_topology_of_your_own_is_used(
    rabbitmq: Topology, source: str
) -> None:
    """declare=False declares nothing: it consumes the queue and retries through the
    retry exchange and queue declared by hand; a missing queue fails the start."""
    queue = await rabbitmq.queue(source, "order.*")
    channel = await rabbitmq.channel()
    retries = await channel.declare_exchange(f"{queue}.retry", "direct", durable=True)
    rabbitmq.exchanges.append(retries.name)
    arguments = {
        "x-message-ttl": 0,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
    }
    retry_queue = await channel.declare_queue(f"{queue}.retry.0", durable=True, arguments=arguments)
    rabbitmq.queues.append(retry_queue.name)
    await retry_queue.bind(retries, "0")
    await channel.close()
    handler, calls = scripted(1)
    consumer = RabbitMQConsumer(
        queue, handlers=[handler], url=rabbitmq.url, declare=False, backoff=0
    )
    async with consumer:
        await forward(rabbitmq.url, source, [order(1)])
        await until(lambda: calls.finished)
    assert (consumer.stats.retried, consumer.stats.succeeded) == (1, 1)
    assert await depth(rabbitmq, retry_queue.name) == 0
    missing = RabbitMQConsumer(
        f"{queue}-missing", handlers=[handler], url=rabbitmq.url, declare=False
    )
    with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
        await missing.start()
    assert not missing.running


async def test_fastapi_lifespan_consumes_while_the_app_runs(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """FastAPI(lifespan=consumer.lifespan): consuming from startup to shutdown."""
    from fastapi import FastAPI

    handler, calls = scripted()
    consumer = make_consumer([handler])
    app = FastAPI(lifespan=consumer.lifespan)
    async with app.router.lifespan_context(app):
        await forward(rabbitmq.url, source, [order(1)])
        await until(lambda: calls.finished)
        assert consumer.running
    assert not consumer.running


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"queue": ""}, "queue"),
        ({"queue": None}, "queue"),
        ({"routing_keys": "order.*"}, "routing_keys"),
        ({"queue_arguments": [("x-max-length", 1)]}, "queue_arguments"),
        ({"exchange_type": "nope"}, "exchange_type"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_arguments_are_refused_at_construction(options: dict[str, Any], named: str) -> None:
    """Each bad argument fails at once, naming the argument (and the type it got)."""
    arguments: dict[str, Any] = {"queue": "q", "handlers": [scripted()[0]], **options}
    with pytest.raises(ConfigurationError, match=named):
        RabbitMQConsumer(arguments.pop("queue"), **arguments)


def test_retry_delays_round_up_to_a_power_of_two_milliseconds() -> None:
    """A handful of retry queues serve every backoff: powers of two, capped."""
    assert [retry_bucket(d, 300) for d in (0, 0.0004, 0.5, 0.6, 1.0, 299.0)] == [
        0,
        1,
        512,
        1024,
        1024,
        300000,
    ]


async def test_a_lost_connection_is_reopened_and_nothing_is_lost(
    rabbitmq: Topology, source: str, make_consumer: MakeConsumer
) -> None:
    """The broker gone mid-handling (a proxy cut): the acknowledgement cannot be sent, so
    RabbitMQ delivers that message again (deduplicated); once it is back the consumer
    subscribes again and takes new messages. Every event is handled once."""
    proxy = await TcpProxy(urlsplit(rabbitmq.url).port or 5672).start()
    gate = asyncio.Event()
    first, later = order(1), order(2)
    calls = Calls()
    consumer = make_consumer(
        [_gated(gate, {first.id}, calls)], url=proxy.url_for(rabbitmq.url), deduplicate=True
    )
    try:
        async with consumer:
            await forward(rabbitmq.url, source, [first])
            await until(lambda: calls.started)
            await proxy.cut()
            gate.set()  # handled, but its channel is gone: no ack reaches RabbitMQ
            await until(lambda: calls.finished)
            await proxy.restore()
            await forward(rabbitmq.url, source, [later])
            await until(lambda: consumer.stats.duplicates == 1 and len(calls.finished) == 2)
    finally:
        await proxy.close()
    assert [e.id for e in calls.finished] == [first.id, later.id]
    assert await depth(rabbitmq, consumer.queue) == 0
