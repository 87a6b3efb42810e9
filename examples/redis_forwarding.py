"""Forward a FastAPI app's events to Redis Streams, with a readiness probe, on 127.0.0.1.

Run it with ``python examples/redis_forwarding.py`` (needs ``fastapi-events[redis,examples]``
and a Redis server: ``$REDIS_URL``, default ``redis://127.0.0.1:6379/0``). It:

* serves a FastAPI app whose middleware routes ``user.*`` events to one stream and
  ``order.*`` events to another (CloudEvents, binary mode: ``ce_*`` fields);
* answers ``GET /healthz`` with every handler's health (200, or 503 when Redis is down);
* makes a few requests (in process, through ``httpx.ASGITransport``);
* reads both streams back with ``XRANGE``, decodes each entry with
  ``fastapi_events.serialization.decode``, and deletes the streams.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

try:
    import httpx
    import redis
    import redis.asyncio
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[redis,examples]'")

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.redis import RedisStreamForwardHandler
from fastapi_events.health import health_app
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, decode

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def create_app(handler: RedisStreamForwardHandler) -> FastAPI:
    """A small app: endpoints dispatch events, written to Redis after the response."""
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


async def main() -> None:
    """Run the app against Redis, then print what a stream consumer reads."""
    suffix = uuid.uuid4().hex[:8]
    streams = {"user": f"example:users:{suffix}", "order": f"example:orders:{suffix}"}
    handler = RedisStreamForwardHandler(
        lambda event: streams[event.key.split(".")[0]],  # route by the name's prefix
        url=REDIS_URL,
        serializer=CloudEventsFormat("/example-shop", mode="binary"),
    )
    transport = httpx.ASGITransport(create_app(handler))
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        for path in ("/users/1", "/users/1/orders/10", "/users/2/orders/20"):
            response = await client.post(path)
            print(f"POST {path} -> {response.status_code}")
        health = await client.get("/healthz")
        print(f"GET /healthz -> {health.status_code} {health.json()['healthy']}")
    await wait_for_pending()
    await handler.aclose()
    if health.status_code != 200:
        sys.exit(f"Redis is not reachable at {REDIS_URL.split('@')[-1]}: set REDIS_URL")
    reader = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        for label, stream in streams.items():
            for _, fields in await reader.xrange(stream):
                event = decode(fields)
                print(f"read {label:<5} {event.name:<14} {event.payload} id={event.id}")
        await reader.delete(*streams.values())
    finally:
        await reader.aclose()


if __name__ == "__main__":
    asyncio.run(main())
