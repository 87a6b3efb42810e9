"""Consume what a FastAPI app forwards to AWS SQS, in a worker with your local handlers.

Run it with ``python examples/sqs_consumer.py`` (needs ``fastapi-events[aws,examples]`` and
``moto``, which the test extra installs). It uses the SQS endpoint at ``$SQS_ENDPOINT_URL``,
or starts moto's SQS server on a free loopback port itself. Then it:

* serves a FastAPI app (the producer) forwarding ``order.placed`` events to a queue;
* consumes the queue with an :class:`~fastapi_events.consumers.SQSConsumer` feeding a local
  handler, which sees each event with the id, payload and correlation id it had in the app;
* retries an order whose handler fails once (SQS delivers it again), and dead-letters one
  that always fails (after three deliveries) to a second queue, through the SQS forwarder.

In production, the consumer runs in its own process:
``python -m fastapi_events.consume yourapp.worker:consumer``, or in an app's lifespan:
``FastAPI(lifespan=consumer.lifespan)``. No AWS account is used here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    import boto3
    import httpx
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[aws,examples]'")

from fastapi_events import Event, wait_for_pending
from fastapi_events.consumers import SQSConsumer
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import decode

REGION = "us-east-1"
NO_MOTO = (
    "No SQS endpoint: set SQS_ENDPOINT_URL=http://127.0.0.1:PORT to a running SQS-compatible "
    "server, or `pip install 'moto>=5' flask flask-cors` so this example can start one."
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
def sqs_endpoint() -> Iterator[str]:
    """Yield ``$SQS_ENDPOINT_URL``, or start moto's server on 127.0.0.1 and yield its URL."""
    if url := os.environ.get("SQS_ENDPOINT_URL"):
        yield url
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        sys.exit(NO_MOTO)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"started moto's SQS server on {host}:{port}")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def produce(queue_url: str, endpoint: str) -> None:
    """The producing app: each request dispatches one order event, forwarded to SQS."""
    forwarder = SQSForwardHandler(queue_url, REGION, endpoint_url=endpoint)
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[forwarder])

    @app.post("/orders/{order}")
    async def place(order: int) -> dict[str, int]:
        dispatch("order.placed", {"order": order})
        return {"order": order}

    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        for order in (1, 2, 3):
            headers = {"X-Request-ID": f"request-{order}"}
            await client.post(f"/orders/{order}", headers=headers)
    await wait_for_pending()
    await forwarder.aclose()


async def consume(queue_url: str, dead_letter_url: str, endpoint: str) -> SQSConsumer:
    """The worker: consume until orders 1 and 2 are handled and order 3 is dead-lettered."""
    consumer = SQSConsumer(
        queue_url,
        handlers=[worker_handler],
        region_name=REGION,
        endpoint_url=endpoint,
        wait_time_seconds=0,  # moto: short polls keep the example quick
        backoff=0.0,  # retry at once (the default starts at 1 s and doubles)
        max_deliveries=3,
        dead_letter=SQSForwardHandler(dead_letter_url, REGION, endpoint_url=endpoint),
    )
    async with consumer:  # or: FastAPI(lifespan=consumer.lifespan)
        while consumer.stats.succeeded < 2 or consumer.stats.dead_lettered < 1:
            await asyncio.sleep(0.05)
    return consumer


def main() -> None:
    """Reach (or start) SQS, produce three orders, consume them, read the dead letters."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    logging.getLogger("fastapi_events").setLevel(logging.CRITICAL)  # failures are on purpose
    with sqs_endpoint() as endpoint:
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        suffix = uuid.uuid4().hex[:8]
        queue_url = sqs.create_queue(QueueName=f"orders-{suffix}")["QueueUrl"]
        dead_letter_url = sqs.create_queue(QueueName=f"orders-dlq-{suffix}")["QueueUrl"]
        asyncio.run(produce(queue_url, endpoint))
        consumer = asyncio.run(consume(queue_url, dead_letter_url, endpoint))
        stats = consumer.stats
        print(
            f"stats succeeded={stats.succeeded} retried={stats.retried} "
            f"dead_lettered={stats.dead_lettered}"
        )
        for message in receive(sqs, dead_letter_url):
            event: Any = decode(message)
            print(f"dead-lettered {event.id} {event.name} order={event.payload['order']}")


def receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    """The messages waiting in ``url`` (the dead-letter queue)."""
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )
    messages: list[dict[str, Any]] = response.get("Messages", [])
    return messages


if __name__ == "__main__":
    main()
