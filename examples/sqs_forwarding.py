"""Forward a FastAPI app's events to AWS SQS, end to end on 127.0.0.1.

Run it with ``python examples/sqs_forwarding.py`` (needs ``fastapi-events[aws,examples]``
and ``moto``, which the test extra installs). It uses the SQS endpoint at
``$SQS_ENDPOINT_URL``, or starts moto's SQS server on a free loopback port itself. Then it:

* creates a standard queue and a FIFO queue;
* serves a FastAPI app whose middleware forwards to both (CloudEvents on the FIFO one);
* makes a few requests (in process, through ``httpx.ASGITransport``);
* receives the messages back and decodes them with ``fastapi_events.serialization.decode``.

No AWS account is used: credentials are dummies unless you set your own.
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
    import boto3  # noqa: F401  (checked here: the forwarder imports it lazily)
    import httpx
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[aws,examples]'")

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, decode

REGION = "us-east-1"
NO_MOTO = (
    "No SQS endpoint: set SQS_ENDPOINT_URL=http://127.0.0.1:PORT to a running SQS-compatible "
    "server, or `pip install 'moto>=5' flask flask-cors` so this example can start one."
)


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


def create_app(handlers: list[SQSForwardHandler]) -> FastAPI:
    """A small app: every endpoint dispatches events, sent to SQS after the response."""
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=handlers)

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


async def run_app(handlers: list[SQSForwardHandler]) -> None:
    """Serve a few requests, wait for the forwarding, close the clients."""
    transport = httpx.ASGITransport(create_app(handlers))
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        for path in ("/users/1", "/users/2", "/users/1/orders/10", "/users/2/orders/20"):
            response = await client.post(path)
            print(f"POST {path} -> {response.status_code}")
    await wait_for_pending()
    for handler in handlers:
        await handler.aclose()


def receive_all(sqs: Any, url: str, count: int) -> list[dict[str, Any]]:
    """Receive and delete until ``count`` messages arrived."""
    messages: list[dict[str, Any]] = []
    for _ in range(20):
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages += batch
        if len(messages) >= count:
            break
    return messages


def main() -> None:
    """Reach (or start) SQS, run the app, print what a consumer receives."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    with sqs_endpoint() as endpoint:
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        suffix = uuid.uuid4().hex[:8]
        events_url = sqs.create_queue(QueueName=f"events-{suffix}")["QueueUrl"]
        audit_url = sqs.create_queue(
            QueueName=f"audit-{suffix}.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        handlers = [
            SQSForwardHandler(events_url, REGION, endpoint_url=endpoint),
            SQSForwardHandler(
                audit_url,
                REGION,
                serializer=CloudEventsFormat("/example-shop"),
                # One FIFO group per user: each user's events arrive in dispatch order.
                message_group_id=lambda event: f"user-{event.payload['user_id']}",
                endpoint_url=endpoint,
            ),
        ]
        asyncio.run(run_app(handlers))
        for label, url in (("events", events_url), ("audit", audit_url)):
            for message in receive_all(sqs, url, count=6):
                received = decode(message)
                print(f"received {label:<6} {received.name:<14} {received.payload}")


if __name__ == "__main__":
    main()
