"""App A under a real uvicorn dispatches -> RabbitMQ forwarder -> RabbitMQ ->
RabbitMQConsumer in a worker process -> a local handler; SIGTERM mid-batch (the harness:
e2e_kit.py). Failing twice, and dead-lettering after N deliveries, are covered against the
real broker at the consumer level in test_rabbitmq.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from fastapi_events.consumers import RabbitMQConsumer
from tests.consumers.e2e_kit import Harness, assert_exactly_once, handled_by, sigterm_mid_batch
from tests.consumers.kit import scripted
from tests.consumers.test_rabbitmq import depth
from tests.servers.rabbitmq_server import Topology

pytestmark = [pytest.mark.anyio, pytest.mark.broker]


def consumer_of(
    url: str, exchange: str, queue: str, handlers: list[Any], **options: Any
) -> RabbitMQConsumer:
    """A consumer of ``queue`` as the worker of e2e_rabbitmq.py builds it."""
    return RabbitMQConsumer(
        queue, handlers=handlers, url=url, exchange=exchange, routing_keys=("order.*",), **options
    )


def declared_by(rabbitmq: Topology, consumer: RabbitMQConsumer) -> RabbitMQConsumer:
    """``consumer``, what it may declare deleted after the test."""
    topology = consumer.topology
    for name in [consumer.queue, *map(topology.retry_queue, consumer.retry_delays)]:
        if name not in rabbitmq.queues:
            rabbitmq.queues.append(name)
    if topology.retry_exchange not in rabbitmq.exchanges:
        rabbitmq.exchanges.append(topology.retry_exchange)
    return consumer


async def consuming(rabbitmq: Topology, queue: str) -> None:
    """Wait until someone consumes ``queue`` (declared and bound: app A's messages are
    routable, and ``mandatory`` would report them otherwise)."""
    import aio_pika

    for _ in range(300):  # 15 s at most
        try:
            channel = await rabbitmq.channel()
            declared = await channel.declare_queue(queue, passive=True)
            await channel.close()
            if declared.declaration_result.consumer_count:
                return
        except aio_pika.exceptions.ChannelNotFoundEntity:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"nobody consumes {queue}")


async def test_worker_sees_app_a_events_with_linked_traces_and_sigterm_loses_nothing(
    rabbitmq: Topology, e2e: Harness
) -> None:
    """Same id, name, payload and correlation id in the worker, its handler spans linked
    to app A's dispatch spans; SIGTERM while one message is stuck: the others were acked,
    the stuck one is back in the queue for the next consumer; by event id, nothing lost."""
    exchange = await rabbitmq.exchange("e2e")
    queue = f"fastapi-events-test.e2e.{uuid.uuid4().hex[:12]}"
    app_a = e2e.app_a("rabbitmq", AMQP_URL=rabbitmq.url, EXCHANGE=exchange)
    worker = e2e.worker("rabbitmq", AMQP_URL=rabbitmq.url, EXCHANGE=exchange, QUEUE=queue)
    declared_by(rabbitmq, consumer_of(rabbitmq.url, exchange, queue, [scripted()[0]], backoff=1))
    sent, finished = await sigterm_mid_batch(
        app_a, worker, ready=lambda: consuming(rabbitmq, queue)
    )
    assert await depth(rabbitmq, queue) == 1
    rest = await handled_by(
        lambda handlers: declared_by(
            rabbitmq, consumer_of(rabbitmq.url, exchange, queue, handlers, backoff=0)
        ),
        1,
    )
    assert_exactly_once(sent, finished, rest)
    assert await depth(rabbitmq, queue) == 0
