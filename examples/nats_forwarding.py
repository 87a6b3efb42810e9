"""Forward a FastAPI app's events to NATS JetStream, with a readiness probe, on 127.0.0.1.

Run it with ``python examples/nats_forwarding.py`` (needs ``fastapi-events[nats,examples]``
and a NATS server with JetStream: ``$NATS_URL``, default ``nats://127.0.0.1:4222``). It:

* creates a stream capturing ``<prefix>.>`` (a unique prefix per run);
* serves a FastAPI app whose middleware routes ``user.*`` events to ``<prefix>.users`` and
  ``order.*`` events to ``<prefix>.orders`` (CloudEvents, binary mode: ``ce-*`` headers);
* answers ``GET /healthz`` with every handler's health (200, or 503 when NATS is down);
* makes a few requests (in process, through ``httpx.ASGITransport``);
* reads the stream back with a pull consumer, decodes each message with
  ``fastapi_events.serialization.decode``, acks it, and deletes the stream.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

try:
    import httpx
    import nats
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[nats,examples]'")

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.nats import NATSForwardHandler
from fastapi_events.health import health_app
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, decode

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def create_app(handler: NATSForwardHandler) -> FastAPI:
    """A small app: endpoints dispatch events, published to JetStream after the response."""
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


async def serve(handler: NATSForwardHandler) -> int:
    """Make the requests; return the readiness probe's status code."""
    transport = httpx.ASGITransport(create_app(handler))
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        for path in ("/users/1", "/users/1/orders/10", "/users/2/orders/20"):
            response = await client.post(path)
            print(f"POST {path} -> {response.status_code}")
        health = await client.get("/healthz")
        print(f"GET /healthz -> {health.status_code} {health.json()['healthy']}")
    await wait_for_pending()
    await handler.aclose()
    return health.status_code


async def read_back(js: nats.js.JetStreamContext, stream: str, prefix: str) -> None:
    """Print every message of the stream, as a consumer decodes it."""
    consumer = await js.pull_subscribe(f"{prefix}.>", durable="example-reader", stream=stream)
    try:
        for message in await consumer.fetch(10, timeout=2):
            event = decode(message)
            label = message.subject.rpartition(".")[2]
            print(f"read {label:<6} {event.name:<14} {event.payload} id={event.id}")
            await message.ack()
    finally:
        await consumer.unsubscribe()


async def main() -> None:
    """Run the app against JetStream, then print what a stream consumer reads."""
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    subjects = {"user": f"{prefix}.users", "order": f"{prefix}.orders"}
    handler = NATSForwardHandler(
        lambda event: subjects[event.key.split(".")[0]],  # route by the name's prefix
        url=NATS_URL,
        connect_timeout=2,
        serializer=CloudEventsFormat("/example-shop", mode="binary"),
    )
    if not (await handler.check_health()).healthy:
        await serve(handler)  # the probe reports NATS down (503)
        sys.exit(f"NATS is not reachable at {NATS_URL.split('@')[-1]}: set NATS_URL")
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    stream = prefix.upper().replace("-", "_")
    await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
    try:
        if await serve(handler) != 200:
            sys.exit("NATS JetStream is not ready: see GET /healthz")
        await read_back(js, stream, prefix)
    finally:
        await js.delete_stream(stream)
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
