"""Consume what a FastAPI app forwards to NATS JetStream, in a worker with your local handlers.

Run it with ``python examples/nats_consumer.py`` (needs ``fastapi-events[nats,examples]`` and
a NATS server with JetStream: ``$NATS_URL``, default ``nats://127.0.0.1:4222``). It:

* creates a stream capturing ``<prefix>.>`` and a dead-letter stream capturing
  ``<prefix>-dead.>`` (a unique prefix per run; both deleted at the end);
* serves a FastAPI app (the producer) forwarding ``order.placed`` events to ``<prefix>.orders``;
* consumes the stream with a :class:`~fastapi_events.consumers.NATSConsumer` (a durable pull
  consumer) feeding a local handler, which sees each event with the id, payload and
  correlation id it had in the app;
* retries an order whose handler fails once (``nak`` with a delay: JetStream delivers it
  again), and dead-letters one that always fails (after three deliveries) to
  ``<prefix>-dead.orders`` through the NATS forwarder, then terminates it (``+TERM``).
  (Dead letters need a stream of their own: published to the same stream, a copy keeps
  its ``Nats-Msg-Id`` and the stream would drop it as a duplicate.)

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
    import httpx
    import nats
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[nats,examples]'")

from fastapi_events import Event, wait_for_pending
from fastapi_events.consumers import NATSConsumer
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.nats import NATSForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import decode

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")

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


async def produce(subject: str) -> None:
    """The producing app: each request dispatches one order event, forwarded to NATS."""
    forwarder = NATSForwardHandler(subject, url=NATS_URL)
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


async def consume(stream: str, subject: str, dead_subject: str) -> NATSConsumer:
    """The worker: consume until orders 1 and 2 are handled and order 3 is dead-lettered."""
    consumer = NATSConsumer(
        stream,
        durable="fulfilment",  # workers sharing this name share the messages
        subject=subject,
        handlers=[worker_handler],
        url=NATS_URL,
        backoff=0.1,  # the first retry after 0.05-0.1 s (the default starts at 1 s)
        max_deliveries=3,
        dead_letter=NATSForwardHandler(dead_subject, url=NATS_URL),
    )
    async with consumer:  # or: FastAPI(lifespan=consumer.lifespan)
        for _ in range(400):  # 20 s at most
            if consumer.stats.succeeded >= 2 and consumer.stats.dead_lettered >= 1:
                break
            await asyncio.sleep(0.05)
    return consumer


async def main() -> None:
    """Create the streams, produce three orders, consume them, read the dead letters."""
    logging.getLogger("fastapi_events").setLevel(logging.CRITICAL)  # failures are on purpose
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    stream = prefix.upper().replace("-", "_")
    try:
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
    except Exception:
        sys.exit(f"NATS is not reachable at {NATS_URL.split('@')[-1]}: set NATS_URL")
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
    await js.add_stream(name=f"{stream}_DEAD", subjects=[f"{prefix}-dead.>"])
    try:
        await produce(f"{prefix}.orders")
        stats = (await consume(stream, f"{prefix}.orders", f"{prefix}-dead.orders")).stats
        print(
            f"stats succeeded={stats.succeeded} retried={stats.retried} "
            f"dead_lettered={stats.dead_lettered}"
        )
        reader = await js.pull_subscribe(
            f"{prefix}-dead.>", durable="dead-reader", stream=f"{stream}_DEAD"
        )
        for message in await reader.fetch(1, timeout=2):
            event = decode(message)
            print(f"dead-lettered {event.id} {event.name} order={event.payload['order']}")
            await message.ack()
        await reader.unsubscribe()
    finally:
        for name in (stream, f"{stream}_DEAD"):
            await js.delete_stream(name)
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
