"""Pub/Sub push envelopes carrying what our Pub/Sub forwarder publishes (built from its own
encoder), and a real push from the emulator to the ingress under uvicorn."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from fastapi_events.ingress import ALLOW_UNAUTHENTICATED
from fastapi_events.serialization import CloudEventsFormat, MessageFormat
from tests.ingress.kit import Recorder, app_for, client, dumps, post
from tests.servers.pubsub import PROJECT_ID, Emulator, unique_topic_id
from tests.servers.uvicorn import serve_in_thread

pytestmark = pytest.mark.anyio

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PUBLISHED = "2025-01-02T03:04:05.678901234Z"
FORMATS: dict[str, MessageFormat | None] = {
    "json-array": None,
    "structured": CloudEventsFormat("/shop"),
    "binary": CloudEventsFormat("/shop", mode="binary"),
}


def push_envelope(event: Event, serializer: MessageFormat | None) -> dict[str, Any]:
    """The push request body for the message our forwarder publishes for ``event``."""
    forwarder = GoogleCloudSimplePubSubHandler(PROJECT_ID, "orders", serializer=serializer)
    message = forwarder.encode(event)
    return {
        "message": {
            "data": base64.b64encode(message.body).decode(),
            "attributes": message.attributes,
            "messageId": "1234567890",
            "message_id": "1234567890",
            "publishTime": PUBLISHED,
            "publish_time": PUBLISHED,
        },
        "subscription": f"projects/{PROJECT_ID}/subscriptions/orders-push",
    }


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_the_forwarders_message_arrives_as_dispatched(fmt: str) -> None:
    """Every message format of the forwarder, pushed: the same id, name, payload,
    timestamp, correlation id and trace context."""
    sent = Event(
        "order.placed",
        {"order": 7},
        id=str(uuid.uuid4()),
        timestamp=1_700_000_000.25,
        trace_context={"traceparent": TRACEPARENT},
        correlation_id="corr-7",
    )
    recorder = Recorder()
    ingress = recorder.ingress()
    async with client(app_for(ingress)) as http:
        body = dumps(push_envelope(sent, FORMATS[fmt]))
        response = await post(
            http, body, {"content-type": "application/json"}, sign=ingress.verifier
        )
    assert response.status_code == 200, response.text
    [received] = recorder.events
    assert received == sent
    assert received.id == sent.id
    assert received.correlation_id == "corr-7"
    assert received.trace_context == {"traceparent": TRACEPARENT}
    assert received.timestamp.timestamp() == pytest.approx(1_700_000_000.25)


async def test_a_message_without_metadata_gets_the_message_id_and_publish_time() -> None:
    """A message written by other code (no event_id, no event_time attribute) keeps
    Pub/Sub's message id, and its publishTime as the timestamp."""
    recorder = Recorder()
    ingress = recorder.ingress()
    envelope = push_envelope(Event("x", {}), None)
    for attribute in ("event_id", "event_time"):
        del envelope["message"]["attributes"][attribute]
    async with client(app_for(ingress)) as http:
        response = await post(
            http, dumps(envelope), {"content-type": "application/json"}, sign=ingress.verifier
        )
    assert response.status_code == 200, response.text
    assert recorder.events[0].id == "1234567890"
    assert recorder.events[0].timestamp.timestamp() == pytest.approx(1735787045.678901)


@pytest.fixture
def push_topic(pubsub_emulator: Emulator) -> Iterator[tuple[str, Any]]:
    """A fresh topic on the emulator; yields its path and a push-subscription maker."""
    publisher, subscriber = pubsub_emulator.clients()
    topic_id = unique_topic_id()
    topic = f"projects/{PROJECT_ID}/topics/{topic_id}"
    publisher.create_topic(name=topic)
    made: list[str] = []

    def subscribe(endpoint: str) -> None:
        name = f"projects/{PROJECT_ID}/subscriptions/{topic_id}-push"
        subscriber.create_subscription(
            request={"name": name, "topic": topic, "push_config": {"push_endpoint": endpoint}}
        )
        made.append(name)

    yield topic_id, subscribe
    for name in made:
        subscriber.delete_subscription(subscription=name)
    publisher.delete_topic(topic=topic)


@pytest.mark.emulator
async def test_the_emulator_pushes_forwarded_events_into_the_handlers(
    pubsub_emulator: Emulator, push_topic: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forwarder -> emulator -> push -> ingress under uvicorn -> handlers, end to end."""
    topic_id, subscribe = push_topic
    recorder = Recorder()
    ingress = recorder.ingress(verifier=ALLOW_UNAUTHENTICATED, formats=["pubsub"])
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    forwarder = GoogleCloudSimplePubSubHandler(PROJECT_ID, topic_id)
    with serve_in_thread(app_for(ingress)) as url:
        subscribe(f"{url}/events")
        async with event_scope(handlers=[forwarder]):
            dispatch("order.placed", {"order": 1})
            dispatch("order.paid", {"order": 1})
        await forwarder.aclose()
        deadline = time.monotonic() + 30  # a safety net, not an assertion on speed
        while len(recorder.events) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert sorted(event.key for event in recorder.events) == ["order.paid", "order.placed"]
    recorder.ledger.assert_exact(2)
