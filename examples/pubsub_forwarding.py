"""Forward a FastAPI app's events to Google Cloud Pub/Sub, end to end on 127.0.0.1.

Run it with ``python examples/pubsub_forwarding.py`` (needs ``fastapi-events[google,examples]``).
It uses the emulator at ``$PUBSUB_EMULATOR_HOST``, or starts Google's Pub/Sub emulator
itself (``google-cloud-cli-pubsub-emulator``, which needs Java; ``$PUBSUB_EMULATOR_BIN``
overrides where its launcher is looked for). Then it:

* creates a topic and an ordered subscription;
* serves a FastAPI app with the middleware and a ``GoogleCloudSimplePubSubHandler``;
* makes a few requests (in process, through ``httpx.ASGITransport``);
* pulls the messages back and prints their attributes and bodies.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import httpx
    from fastapi import FastAPI
    from google.cloud import pubsub_v1  # noqa: F401  (the forwarder imports it lazily)
except ImportError as missing:  # one line naming the extra, instead of a traceback
    sys.exit(f"this example needs {missing.name}: pip install -e '.[google,examples]'")

from fastapi_events import wait_for_pending
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

PROJECT_ID = "example-project"
TOPIC_ID = f"user-events-{uuid.uuid4().hex[:8]}"
NO_EMULATOR = (
    "No Pub/Sub emulator: set PUBSUB_EMULATOR_HOST=127.0.0.1:PORT to a running one, or "
    "install the Google Cloud CLI's Pub/Sub emulator (package google-cloud-cli-pubsub-emulator, "
    "needs Java) so this example can start it."
)
LAUNCHER = Path("platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")


def find_emulator() -> Path | None:
    """The emulator launcher: ``$PUBSUB_EMULATOR_BIN``, next to ``gcloud``, or the SDK."""
    if explicit := os.environ.get("PUBSUB_EMULATOR_BIN"):
        return Path(explicit) if Path(explicit).is_file() else None
    roots = [Path("/usr/lib/google-cloud-sdk")]
    if gcloud := shutil.which("gcloud"):
        roots.insert(0, Path(gcloud).resolve().parent.parent)
    return next((root / LAUNCHER for root in roots if (root / LAUNCHER).is_file()), None)


@contextmanager
def emulator_host() -> Iterator[str]:
    """Yield ``$PUBSUB_EMULATOR_HOST``, or start an emulator on a free port and yield its host."""
    if host := os.environ.get("PUBSUB_EMULATOR_HOST"):
        yield host
        return
    launcher = find_emulator()
    if launcher is None:
        sys.exit(NO_EMULATOR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [str(launcher), "--host=127.0.0.1", f"--port={port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # ready when it says so (about a second)
            if "Server started, listening on" in line:
                break
        else:
            sys.exit(f"the Pub/Sub emulator ({launcher}) exited before it was ready")
        # Keep draining its output so it never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        print(f"started the Pub/Sub emulator on 127.0.0.1:{port}")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_app(handler: GoogleCloudSimplePubSubHandler) -> FastAPI:
    """A small app: every endpoint dispatches events, published after the response."""
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

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


async def make_requests(app: FastAPI) -> None:
    """Drive the app in process; events are published after each response."""
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        for path in ("/users/1", "/users/2", "/users/1/orders/10", "/users/2/orders/20"):
            response = await client.post(path)
            print(f"POST {path} -> {response.status_code}")
    await wait_for_pending()


def pull_all(subscriber: Any, subscription: str, count: int) -> list[Any]:
    """Pull (and ack: ordered delivery waits for acks) until ``count`` messages arrived."""
    messages: list[Any] = []
    for _ in range(20):
        response = subscriber.pull(subscription=subscription, max_messages=100, timeout=5)
        messages += [item.message for item in response.received_messages]
        if response.received_messages:
            ack_ids = [item.ack_id for item in response.received_messages]
            subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)
        if len(messages) >= count:
            break
    return messages


def main() -> None:
    """Start (or reach) the emulator, run the app, print what the subscriber received."""
    with emulator_host() as host:
        os.environ["PUBSUB_EMULATOR_HOST"] = host  # before any client is constructed
        from google.cloud import pubsub_v1

        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.create_topic(name=publisher.topic_path(PROJECT_ID, TOPIC_ID)).name
        subscription = subscriber.subscription_path(PROJECT_ID, f"{TOPIC_ID}-audit")
        subscriber.create_subscription(
            request={"name": subscription, "topic": topic, "enable_message_ordering": True}
        )

        handler = GoogleCloudSimplePubSubHandler(
            PROJECT_ID,
            TOPIC_ID,
            # One ordering key per user: each user's events arrive in dispatch order.
            ordering_key=lambda event: f"user-{event.payload['user_id']}",
            enable_message_ordering=True,
            attributes={"service": "example-shop"},
        )
        asyncio.run(run_app(handler))

        for message in pull_all(subscriber, subscription, count=6):
            attributes = dict(message.attributes)
            print(
                f"received {attributes['event_name']:<14} key={message.ordering_key:<7} "
                f"service={attributes['service']} body={message.data.decode()}"
            )
        subscriber.close()
        publisher.transport.close()


async def run_app(handler: GoogleCloudSimplePubSubHandler) -> None:
    """Serve the requests, then flush the handler (a server's shutdown does this for you)."""
    await make_requests(create_app(handler))
    await handler.aclose()


if __name__ == "__main__":
    main()
