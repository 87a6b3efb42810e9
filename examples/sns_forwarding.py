"""Forward a FastAPI app's events to AWS SNS topics, with a readiness probe, on 127.0.0.1.

Run it with ``python examples/sns_forwarding.py`` (needs ``fastapi-events[aws,examples]``
and ``moto``, which the test extra installs). It uses the SNS endpoint at
``$SNS_ENDPOINT_URL``, or starts moto's server on a free loopback port itself. Then it:

* serves a FastAPI app whose middleware routes ``user.*`` events to one topic and
  ``order.*`` events to another (CloudEvents, binary mode: ``ce-*`` message attributes),
  one FIFO group per user;
* asks its readiness probe, ``GET /healthz``, first: 200, or 503 when SNS is down (then
  it stops, naming the fix);
* creates the two topics, each with an SQS queue subscribed to it: ``users`` (raw message
  delivery) and ``orders.fifo`` (a FIFO topic; its queue gets the SNS JSON envelope);
* makes a few requests (in process, through ``httpx.ASGITransport``);
* receives the messages from both queues and decodes each with
  ``fastapi_events.serialization.decode`` (raw or enveloped alike), then deletes all four.

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
    import boto3
    import httpx
    from botocore.config import Config
    from fastapi import FastAPI
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[aws,examples]'")

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.sns import SNSForwardHandler
from fastapi_events.health import health_app
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, decode

REGION = "us-east-1"
NO_MOTO = (
    "No SNS endpoint: set SNS_ENDPOINT_URL=http://127.0.0.1:PORT to a running SNS-compatible "
    "server, or `pip install 'moto>=5' flask flask-cors` so this example can start one."
)
#: Fail fast when SNS is unreachable: the forwarder retries (with backoff) on its own.
BOTO_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})


@contextmanager
def sns_endpoint() -> Iterator[str]:
    """Yield ``$SNS_ENDPOINT_URL``, or start moto's server on 127.0.0.1 and yield its URL."""
    if url := os.environ.get("SNS_ENDPOINT_URL"):
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
    print(f"started moto's SNS server on {host}:{port}")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_app(handler: SNSForwardHandler) -> FastAPI:
    """A small app: endpoints dispatch events, published to SNS after the response."""
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


class Subscribed:
    """A topic and the SQS queue subscribed to it (raw delivery or the SNS envelope)."""

    def __init__(self, endpoint: str, name: str, *, fifo: bool, raw: bool) -> None:
        self.sns = boto3.client("sns", region_name=REGION, endpoint_url=endpoint)
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        suffix = ".fifo" if fifo else ""
        kind = {"FifoTopic": "true"} if fifo else {}
        self.arn = self.sns.create_topic(Name=name + suffix, Attributes=kind)["TopicArn"]
        queue = {"FifoQueue": "true"} if fifo else {}
        self.url = self.sqs.create_queue(QueueName=name + suffix, Attributes=queue)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        self.sns.subscribe(
            TopicArn=self.arn,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": str(raw).lower()},
        )

    def receive(self) -> list[dict[str, Any]]:
        """Every message in the queue (received and deleted)."""
        messages: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in batch:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            messages += batch
        return messages

    def delete(self) -> None:
        """Delete the topic and the queue."""
        self.sns.delete_topic(TopicArn=self.arn)
        self.sqs.delete_queue(QueueUrl=self.url)


def create_topics(endpoint: str) -> dict[str, Subscribed]:
    """The topic (and queue) of each event name prefix."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "user": Subscribed(endpoint, f"users-{suffix}", fifo=False, raw=True),
        "order": Subscribed(endpoint, f"orders-{suffix}", fifo=True, raw=False),
    }


async def run_app(endpoint: str, topics: dict[str, Subscribed]) -> bool:
    """Ask the probe, create the topics, serve a few requests; False if SNS is down."""
    handler = SNSForwardHandler(
        lambda event: topics[event.key.split(".")[0]].arn,  # route by the name's prefix
        REGION,
        serializer=CloudEventsFormat("/example-shop", mode="binary"),
        # Used by the FIFO topic only: each user's orders arrive in dispatch order.
        message_group_id=lambda event: f"user-{event.payload['user_id']}",
        endpoint_url=endpoint,
        config=BOTO_CONFIG,
    )
    transport = httpx.ASGITransport(create_app(handler))
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        health = await client.get("/healthz")
        print(f"GET /healthz -> {health.status_code} {health.json()['healthy']}")
        if health.status_code != 200:
            return False
        topics.update(await asyncio.to_thread(create_topics, endpoint))
        for path in ("/users/1", "/users/1/orders/10", "/users/2/orders/20"):
            response = await client.post(path)
            print(f"POST {path} -> {response.status_code}")
    await wait_for_pending()
    await handler.aclose()
    return True


def forward_and_read(endpoint: str) -> None:
    """Run the app against SNS, print what the consumers read, delete the topics."""
    topics: dict[str, Subscribed] = {}
    try:
        if not asyncio.run(run_app(endpoint, topics)):
            sys.exit(f"SNS is not reachable at {endpoint}: set SNS_ENDPOINT_URL")
        for label, topic in topics.items():
            for message in topic.receive():
                event = decode(message)
                print(f"read {label:<5} {event.name:<14} {event.payload} id={event.id}")
    finally:
        for topic in topics.values():
            topic.delete()


def main() -> None:
    """Reach (or start) SNS and run the example against it."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    with sns_endpoint() as endpoint:
        forward_and_read(endpoint)


if __name__ == "__main__":
    main()
