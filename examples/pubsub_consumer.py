"""Consume what a FastAPI app forwards to Google Cloud Pub/Sub, in a worker with your handlers.

Run it with ``python examples/pubsub_consumer.py`` (needs ``fastapi-events[google,examples]``).
It uses the emulator at ``$PUBSUB_EMULATOR_HOST``, or starts Google's Pub/Sub emulator itself
(``google-cloud-cli-pubsub-emulator``, which needs Java; see ``pubsub_forwarding.py``). Then:

* a FastAPI app (the producer) forwards ``order.placed`` events to a topic;
* a :class:`~fastapi_events.consumers.PubSubConsumer` reads the topic's subscription and
  feeds a local handler, which sees each event with the id, payload and correlation id it
  had in the app;
* an order whose handler fails once is delivered again by Pub/Sub and handled; one that
  always fails is dead-lettered after three deliveries to a second topic, through the
  Pub/Sub forwarder, and read back from there.

In production, the consumer runs in its own process:
``python -m fastapi_events.consume yourapp.worker:consumer``, or in an app's lifespan:
``FastAPI(lifespan=consumer.lifespan)``. No Google Cloud account is used here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from typing import Any

try:
    import httpx
    from fastapi import FastAPI
    from google.cloud import pubsub_v1  # noqa: F401  (the consumer imports it lazily)
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[google,examples]'")

from pubsub_forwarding import emulator_host  # the sibling example: reach or start one

from fastapi_events import Event, wait_for_pending
from fastapi_events.consumers import PubSubConsumer
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import decode

PROJECT_ID = "example-project"
SUFFIX = uuid.uuid4().hex[:8]
TOPIC_ID, DEAD_LETTER_TOPIC_ID = f"orders-{SUFFIX}", f"orders-dead-{SUFFIX}"

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


async def produce() -> None:
    """The producing app: each request dispatches one order event, forwarded to Pub/Sub."""
    forwarder = GoogleCloudSimplePubSubHandler(PROJECT_ID, TOPIC_ID)
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


async def consume(subscription_id: str) -> PubSubConsumer:
    """The worker: consume until orders 1 and 2 are handled and order 3 is dead-lettered."""
    consumer = PubSubConsumer(
        PROJECT_ID,
        subscription_id,
        handlers=[worker_handler],
        backoff=0.0,  # retry at once (the default starts at 1 s and doubles)
        max_deliveries=3,
        dead_letter=GoogleCloudSimplePubSubHandler(PROJECT_ID, DEAD_LETTER_TOPIC_ID),
    )
    async with consumer:  # or: FastAPI(lifespan=consumer.lifespan)
        for _ in range(600):  # at most a minute
            if consumer.stats.succeeded >= 2 and consumer.stats.dead_lettered >= 1:
                break
            await asyncio.sleep(0.1)
    return consumer


def main() -> None:
    """Reach (or start) the emulator, produce three orders, consume them, read the dead letter."""
    logging.getLogger("fastapi_events").setLevel(logging.CRITICAL)  # failures are on purpose
    with emulator_host() as host:
        os.environ["PUBSUB_EMULATOR_HOST"] = host  # before any client is constructed
        from google.cloud import pubsub_v1

        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        subscriptions = {}
        for topic_id in (TOPIC_ID, DEAD_LETTER_TOPIC_ID):
            topic = publisher.create_topic(name=publisher.topic_path(PROJECT_ID, topic_id)).name
            subscription = subscriber.subscription_path(PROJECT_ID, f"{topic_id}-worker")
            subscriber.create_subscription(request={"name": subscription, "topic": topic})
            subscriptions[topic_id] = subscription
        asyncio.run(produce())
        consumer = asyncio.run(consume(subscriptions[TOPIC_ID].rpartition("/")[2]))
        stats = consumer.stats
        print(
            f"stats succeeded={stats.succeeded} retried={stats.retried} "
            f"dead_lettered={stats.dead_lettered}"
        )
        for message in pull(subscriber, subscriptions[DEAD_LETTER_TOPIC_ID]):
            event: Any = decode(message)
            print(f"dead-lettered {event.id} {event.name} order={event.payload['order']}")
        subscriber.close()
        publisher.transport.close()


def pull(subscriber: Any, subscription: str) -> list[Any]:
    """The messages waiting in ``subscription`` (the dead-letter topic's), acknowledged."""
    for _ in range(20):
        response = subscriber.pull(subscription=subscription, max_messages=10, timeout=1)
        if response.received_messages:
            ack_ids = [item.ack_id for item in response.received_messages]
            subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)
            return [item.message for item in response.received_messages]
    return []


if __name__ == "__main__":
    main()
