"""Consume what a FastAPI app forwards to RabbitMQ, in a worker with your local handlers.

Run it with ``python examples/rabbitmq_consumer.py`` (needs
``fastapi-events[rabbitmq,examples]`` and a RabbitMQ broker: ``$RABBITMQ_URL``, default
``amqp://guest:guest@127.0.0.1:5672/``). It:

* serves a FastAPI app (the producer) publishing ``order.placed`` events to a topic exchange;
* consumes them with a :class:`~fastapi_events.consumers.RabbitMQConsumer` (which declares
  its queue, binds it with ``order.*`` and declares its retry exchange and queues) feeding a
  local handler, which sees each event with the id, payload and correlation id it had;
* retries an order whose handler fails once (through a retry queue, 0.5-1 s later), and
  dead-letters one that always fails (after three deliveries) to a dead-letter queue through
  the RabbitMQ forwarder; then reads that queue and deletes everything it declared.

In production, the consumer runs in its own process:
``python -m fastapi_events.consume yourapp.worker:consumer``, or in an app's lifespan:
``FastAPI(lifespan=consumer.lifespan)``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid

try:
    import aio_pika
    import httpx
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[rabbitmq,examples]'")

from fastapi_events import Event, wait_for_pending
from fastapi_events.consumers import RabbitMQConsumer
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import decode

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
PATIENCE = 30.0  # seconds the example waits for the worker at most

# --- the worker's handlers: registered exactly as in the producing app ------------------

worker_handler = LocalHandler()
attempts: dict[str, int] = {}


@worker_handler.register(event_name="order.*")
async def fulfil(event: Event) -> None:
    """Order 2 fails on its first delivery; order 3 always fails."""
    attempts[event.id] = attempts.get(event.id, 0) + 1
    order = event.payload["order"]
    if order == 3 or (order == 2 and attempts[event.id] == 1):
        print(f"failed  order={order} delivery={attempts[event.id]}")
        raise RuntimeError("warehouse unavailable")
    print(f"handled {event.id} {event.name} order={order} correlation={event.correlation_id}")


async def produce(exchange: str) -> None:
    """The producing app: each request dispatches one order event, forwarded to RabbitMQ."""
    forwarder = RabbitMQForwardHandler(url=RABBITMQ_URL, exchange=exchange)
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[forwarder])

    @app.post("/orders/{order}")
    async def place(order: int) -> dict[str, int]:
        dispatch("order.placed", {"order": order})
        return {"order": order}

    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        for order in (1, 2, 3):
            await client.post(f"/orders/{order}", headers={"X-Request-ID": f"request-{order}"})
    await wait_for_pending()
    await forwarder.aclose()


async def main() -> None:
    """Declare the queues, produce three orders, consume them, read the dead letters."""
    logging.getLogger("fastapi_events").setLevel(logging.CRITICAL)  # failures are on purpose
    suffix = uuid.uuid4().hex[:8]
    exchange, queue, dead = f"example.shop.{suffix}", f"example.orders.{suffix}", f"{suffix}.dlq"
    try:
        connection = await aio_pika.connect(RABBITMQ_URL, timeout=5)
    except (OSError, asyncio.TimeoutError):
        sys.exit(f"RabbitMQ is not reachable at {RABBITMQ_URL.split('@')[-1]}: set RABBITMQ_URL")
    channel = await connection.channel()
    dead_letters = await channel.declare_queue(f"example.orders.{dead}", durable=True)
    consumer = RabbitMQConsumer(
        queue,
        handlers=[worker_handler],
        url=RABBITMQ_URL,
        exchange=exchange,
        routing_keys=["order.*"],
        backoff=1.0,  # the first retry after 0.5-1 s (through <queue>.retry.<ms>), doubling
        max_deliveries=3,
        dead_letter=RabbitMQForwardHandler(dead_letters.name, url=RABBITMQ_URL, exchange=""),
    )
    try:
        async with consumer:  # declares the exchange, the queue and its bindings
            await produce(exchange)
            deadline = asyncio.get_running_loop().time() + PATIENCE
            while consumer.stats.succeeded < 2 or consumer.stats.dead_lettered < 1:
                assert asyncio.get_running_loop().time() < deadline, "the worker is stuck"
                await asyncio.sleep(0.05)
        stats = consumer.stats
        print(
            f"stats succeeded={stats.succeeded} retried={stats.retried} "
            f"dead_lettered={stats.dead_lettered}"
        )
        while (message := await dead_letters.get(no_ack=True, fail=False)) is not None:
            event = decode(message)
            print(f"dead-lettered {event.id} {event.name} order={event.payload['order']}")
    finally:
        topology = consumer.topology
        for name in (queue, dead_letters.name, *map(topology.retry_queue, consumer.retry_delays)):
            await channel.queue_delete(name)
        await channel.exchange_delete(topology.retry_exchange)
        await channel.exchange_delete(exchange)
        await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
