"""Forward a FastAPI app's events to Kafka, with a readiness probe, on 127.0.0.1.

Run it with ``python examples/kafka_forwarding.py`` (needs ``fastapi-events[kafka,examples]``
and a Kafka broker: ``$KAFKA_BOOTSTRAP``, default ``127.0.0.1:9092``). It:

* serves a FastAPI app whose middleware routes ``user.*`` events to one topic and
  ``order.*`` events to another (CloudEvents, binary mode: ``ce_*`` headers);
* keys each record by the request's ``X-Request-ID`` (the correlation id), or without one
  by the request's first event id, so a request's events stay in order on one partition;
* answers ``GET /healthz`` with every handler's health (200, or 503 when Kafka is down);
* makes a few requests (in process, through ``httpx.ASGITransport``);
* reads both topics back, decodes each record with ``fastapi_events.serialization.decode``,
  and deletes the topics.

Brokers that refuse aiokafka's idempotent producer (Tansu, some Kafka-compatible
services) need ``KAFKA_IDEMPOTENT=0``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

try:
    import httpx
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[kafka,examples]'")

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.kafka import KafkaForwardHandler
from fastapi_events.health import health_app
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, decode

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
IDEMPOTENT = os.environ.get("KAFKA_IDEMPOTENT", "1") != "0"
REQUESTS = [("/users/1", "req-1"), ("/users/1/orders/10", "req-2"), ("/users/2/orders/20", None)]


def create_app(handler: KafkaForwardHandler) -> FastAPI:
    """A small app: endpoints dispatch events, produced to Kafka after the response."""
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


async def run_app(handler: KafkaForwardHandler) -> str | None:
    """Make the requests and ask the readiness probe; return what it found wrong."""
    transport = httpx.ASGITransport(create_app(handler))
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        for path, request_id in REQUESTS:
            headers = {"X-Request-ID": request_id} if request_id else {}
            response = await client.post(path, headers=headers)
            print(f"POST {path} -> {response.status_code}")
        health = await client.get("/healthz")
        print(f"GET /healthz -> {health.status_code} {health.json()['healthy']}")
    await wait_for_pending()
    await handler.aclose()
    if health.status_code == 200:
        return None
    return str(health.json()["handlers"][0]["detail"])


async def read_topic(label: str, topic: str, count: int) -> None:
    """Print the first ``count`` records of ``topic``, partition by partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
        records: list = []
        deadline = time.monotonic() + 10
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            records += [record for batch in batches.values() for record in batch]
    finally:
        await consumer.stop()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode(record)
        key = record.key.decode()[:8]
        print(f"read {label:<5} p{record.partition} key={key:<8} {event.name:<14} {event.payload}")


async def main() -> None:
    """Run the app against Kafka, then print what a consumer reads."""
    suffix = uuid.uuid4().hex[:8]
    topics = {"user": f"example.users.{suffix}", "order": f"example.orders.{suffix}"}
    handler = KafkaForwardHandler(
        lambda event: topics[event.key.split(".")[0]],  # route by the name's prefix
        bootstrap_servers=BOOTSTRAP,
        idempotent=IDEMPOTENT,
        serializer=CloudEventsFormat("/example-shop", mode="binary"),
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.create_topics([NewTopic(name, 3, 1) for name in topics.values()])
    except Exception:  # the probe below says what is wrong
        pass
    try:
        problem = await run_app(handler)
        if problem is not None:
            sys.exit(
                f"Kafka at {BOOTSTRAP}: {problem}. Set KAFKA_BOOTSTRAP; a broker refusing "
                "idempotent producers (UnknownError) needs KAFKA_IDEMPOTENT=0"
            )
        await read_topic("user", topics["user"], 1)
        await read_topic("order", topics["order"], 4)
        await admin.delete_topics(list(topics.values()))
    finally:
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
