"""Forward a FastAPI app's events to a RabbitMQ topic exchange, with a readiness probe.

Run it with ``python examples/rabbitmq_forwarding.py`` (needs
``fastapi-events[rabbitmq,examples]`` and a RabbitMQ broker: ``$RABBITMQ_URL``, default
``amqp://guest:guest@127.0.0.1:5672/``). It:

* serves a FastAPI app whose middleware publishes every event to a topic exchange, the
  event name as routing key (CloudEvents, binary mode: ``cloudEvents_*`` headers);
* answers ``GET /healthz`` with every handler's health (200, or 503 when RabbitMQ is down);
* binds two queues, ``user.*`` and ``order.*``, as two consumer services would;
* makes a few requests (in process, through ``httpx.ASGITransport``);
* reads both queues back, decodes each message with
  ``fastapi_events.serialization.decode``, and deletes the queues and the exchange.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from typing import Any

try:
    import aio_pika
    import httpx
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[rabbitmq,examples]'")

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler
from fastapi_events.health import health_app
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, decode

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def create_app(handler: RabbitMQForwardHandler) -> FastAPI:
    """A small app: endpoints dispatch events, published to RabbitMQ after the response."""
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler], middleware_id=1)
    app.add_route("/healthz", health_app(middleware_id=1), methods=["GET", "HEAD"])

    @app.post("/users/{user_id}")
    async def sign_up(user_id: int) -> dict[str, int]:
        dispatch("user.signed_up", {"user_id": user_id})
        return {"user_id": user_id}

    @app.post("/users/{user_id}/orders/{order_id}")
    async def order(user_id: int, order_id: int) -> dict[str, int]:
        dispatch("order.placed", {"user_id": user_id, "order_id": order_id})
        dispatch("order.paid", {"user_id": user_id, "order_id": order_id})
        return {"order_id": order_id}

    return app


async def bind_queues(channel: Any, exchange: str) -> dict[str, Any]:
    """What the consumers do: a queue per service, bound by event name pattern."""
    queues = {}
    for label in ("user", "order"):
        queue = await channel.declare_queue(f"example.{label}s.{uuid.uuid4().hex[:8]}")
        await queue.bind(exchange, f"{label}.*")
        queues[label] = queue
    return queues


async def main() -> None:
    """Run the app against RabbitMQ, then print what each consumer reads."""
    exchange = f"example.shop.{uuid.uuid4().hex[:8]}"
    handler = RabbitMQForwardHandler(  # routing key: the event name
        url=RABBITMQ_URL,
        exchange=exchange,
        exchange_type="topic",
        serializer=CloudEventsFormat("/example-shop", mode="binary"),
    )
    transport = httpx.ASGITransport(create_app(handler))
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        health = await client.get("/healthz")  # connects, declares the exchange
        print(f"GET /healthz -> {health.status_code} {health.json()['healthy']}")
        if health.status_code != 200:
            await handler.aclose()
            sys.exit(
                f"RabbitMQ is not reachable at {RABBITMQ_URL.split('@')[-1]}: set RABBITMQ_URL"
            )
        consumer = await aio_pika.connect(RABBITMQ_URL)
        channel = await consumer.channel()
        queues = await bind_queues(channel, exchange)
        for path in ("/users/1", "/users/1/orders/10", "/users/2/orders/20"):
            response = await client.post(path)
            print(f"POST {path} -> {response.status_code}")
    await wait_for_pending()
    await handler.aclose()
    try:
        for label, queue in queues.items():
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                event = decode(message)
                print(f"read {label:<5} {event.name:<14} {event.payload} id={event.id}")
            await queue.delete(if_unused=False, if_empty=False)
        await channel.exchange_delete(exchange)
    finally:
        await consumer.close()


if __name__ == "__main__":
    asyncio.run(main())
