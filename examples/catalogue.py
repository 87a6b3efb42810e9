"""An event catalogue: the AsyncAPI document of a FastAPI app's events, and a page showing it.

Run it with ``python examples/catalogue.py`` (needs ``fastapi-events[aws,redis,examples]``;
no AWS account, no Redis server: nothing connects). It:

* builds a FastAPI app with two payload schemas, two local handler functions, an SQS
  forwarder and a Redis Streams forwarder that routes each event to a stream by a function;
* serves the catalogue at ``GET /asyncapi.json`` (the AsyncAPI 3.0 document) and
  ``GET /asyncapi`` (an HTML page rendered on the server: no script, no CDN);
* asks both routes (in process, through ``httpx.ASGITransport``) and prints what the
  document lists.

``python examples/catalogue.py --serve`` serves the app on http://127.0.0.1:8000 instead
(open /asyncapi). Lifespan is off there, so the forwarders never connect.
``python -m fastapi_events.catalogue catalogue:app --app-dir examples -o asyncapi.json``
writes the document to a file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal

try:
    import boto3  # noqa: F401  (checked here: the forwarder imports it lazily)
    import httpx
    import redis  # noqa: F401  (likewise)
    from fastapi import FastAPI
    from pydantic import BaseModel, Field
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[aws,redis,examples]'")

from fastapi_events import Event
from fastapi_events.catalogue import EventCatalogue
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.local import local_handler
from fastapi_events.handlers.redis import RedisStreamForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.registry.payload_schema import registry
from fastapi_events.serialization import CloudEventsFormat

QUEUE_URL = os.environ.get("QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/orders")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class Item(BaseModel):
    """One line of an order."""

    sku: str
    quantity: int = Field(ge=1)


@registry.register(event_name="order.placed")
class OrderPlaced(BaseModel):
    """A customer placed an order."""

    order_id: int
    items: list[Item]
    total: Decimal


@registry.register  # the name comes from __event_name__
class UserSignedUp(BaseModel):
    """A new user signed up."""

    __event_name__ = "user.signed_up"
    user_id: int
    email: str


@local_handler.register(event_name="order.*")
async def update_stock(event: Event) -> None:
    """Every order event adjusts the stock."""


@local_handler.register(event_name="user.signed_up")
def send_welcome_email(event: Event) -> None:
    """A sync handler: runs in a worker thread."""


def stream_for(event: Event) -> str:
    """One stream per kind of event: ``shop:order``, ``shop:user``."""
    return f"shop:{event.key.split('.')[0]}"


def create_app() -> FastAPI:
    """The app: endpoints dispatch events; the catalogue describes what happens to them."""
    app = FastAPI()
    sqs = SQSForwardHandler(QUEUE_URL, region_name="eu-west-1")
    streams = RedisStreamForwardHandler(
        stream_for, url=REDIS_URL, serializer=CloudEventsFormat("/shop", mode="binary")
    )
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[local_handler, sqs, streams])
    EventCatalogue(title="Shop events", version="1.0.0").add_routes(app)

    @app.post("/orders/{order_id}")
    async def place_order(order_id: int) -> dict[str, int]:
        items = [{"sku": "tea", "quantity": 2}]
        dispatch("order.placed", {"order_id": order_id, "items": items, "total": "7.50"})
        return {"order_id": order_id}

    return app


app = create_app()


async def main() -> None:
    """Ask the catalogue's routes, as a browser would, and print what they list."""
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        document = (await client.get("/asyncapi.json")).json()
        page = await client.get("/asyncapi")
    print(f"GET /asyncapi.json -> AsyncAPI {document['asyncapi']}: {document['info']['title']}")
    for name, channel in document["channels"].items():
        print(f"channel   {name:<16} {channel['title']}")
    for name, operation in document["operations"].items():
        print(f"operation {name:<28} {operation['action']:<8} {operation['title']}")
    for name in document["components"]["schemas"]:
        print(f"schema    {name}")
    print(f"GET /asyncapi -> {page.status_code} {page.headers['content-type']}")


if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=8000, lifespan="off")
    else:
        asyncio.run(main())
