"""SNS HTTP notifications carrying what our SNS forwarder publishes (through moto: the
JSON document SNS sends an HTTP subscriber), and the subscription messages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.sns import SNSForwardHandler
from fastapi_events.ingress import SNSSubscriptionMessage
from fastapi_events.serialization import CloudEventsFormat
from fastapi_events.testing import RecordingHandler
from tests.ingress.kit import Recorder, app_for, client, dumps, post
from tests.servers.sns import SNSTopic
from tests.servers.sqs import REGION

pytestmark = pytest.mark.anyio

HEADERS = {"content-type": "text/plain; charset=UTF-8"}


def sns_headers(kind: str) -> dict[str, str]:
    """The headers SNS sends an HTTP(S) subscriber."""
    return {**HEADERS, "x-amz-sns-message-type": kind}


async def notifications(
    topic: SNSTopic, serializer: Any, count: int
) -> tuple[list[str], list[bytes]]:
    """Forward ``count`` events through SNS: their ids, and the JSON documents SNS would
    POST (moto writes the same document into a queue subscribed without raw delivery)."""
    handler = SNSForwardHandler(
        topic.arn, REGION, endpoint_url=topic.endpoint, serializer=serializer
    )
    dispatched = RecordingHandler()
    async with event_scope(handlers=[handler, dispatched]):
        for n in range(count):
            dispatch("order.placed", {"order": n})
    await handler.aclose()
    bodies = [m["Body"].encode() for m in topic.queue.receive_all(count)]
    return [event.id for event in dispatched.events], bodies


@pytest.mark.parametrize("serializer", [None, CloudEventsFormat("/shop", mode="binary")])
async def test_the_forwarders_notifications_arrive_as_dispatched(
    sns_topic: Callable[..., SNSTopic], serializer: Any
) -> None:
    """Each notification becomes the event dispatched: its id (not SNS's), name, payload."""
    sent_ids, documents = await notifications(sns_topic(raw=False), serializer, 2)
    assert len(documents) == 2
    recorder = Recorder()
    ingress = recorder.ingress()
    async with client(app_for(ingress)) as http:
        for document in documents:
            response = await post(
                http, document, sns_headers("Notification"), sign=ingress.verifier
            )
            assert response.status_code == 200, response.text
    assert sorted(event.payload["order"] for event in recorder.events) == [0, 1]
    assert {event.key for event in recorder.events} == {"order.placed"}
    assert sorted(event.id for event in recorder.events) == sorted(sent_ids)
    recorder.ledger.assert_exact(2)


def confirmation(kind: str = "SubscriptionConfirmation") -> dict[str, str]:
    return {
        "Type": kind,
        "MessageId": "m-1",
        "Token": "tok-123",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
        "Message": "You have chosen to subscribe to the topic",
        "SubscribeURL": "https://sns.invalid/?Action=ConfirmSubscription",
        "Timestamp": "2025-01-02T03:04:05.678Z",
        "SignatureVersion": "2",
        "Signature": "c2ln",
        "SigningCertURL": "https://sns.invalid/cert.pem",
    }


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_subscription_messages_go_to_the_callback(kind: str) -> None:
    """The callback gets the message (token, topic, URL never fetched); no handler runs."""
    got: list[SNSSubscriptionMessage] = []

    async def on_sns_subscription(message: SNSSubscriptionMessage) -> None:
        got.append(message)

    recorder = Recorder()
    ingress = recorder.ingress(on_sns_subscription=on_sns_subscription)
    async with client(app_for(ingress)) as http:
        body = dumps(confirmation(kind))
        response = await post(http, body, sns_headers(kind), sign=ingress.verifier)
    assert response.status_code == 200
    [message] = got
    assert (message.type, message.token) == (kind, "tok-123")
    assert message.topic_arn == confirmation()["TopicArn"]
    assert message.subscribe_url.startswith("https://sns.invalid/")
    assert recorder.events == []


async def test_without_a_callback_a_confirmation_is_logged_and_ignored(
    library_logs: list[logging.LogRecord],
) -> None:
    """No callback: 200, one WARNING naming the topic and the option; nothing fetched."""
    ingress = Recorder().ingress()
    async with client(app_for(ingress)) as http:
        body = dumps(confirmation())
        response = await post(
            http, body, sns_headers("SubscriptionConfirmation"), sign=ingress.verifier
        )
    assert response.status_code == 200
    assert response.json() == {"ignored": "SubscriptionConfirmation"}
    [record] = [r for r in library_logs if "on_sns_subscription" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert "orders" in record.getMessage()


async def test_a_failing_callback_is_answered_500() -> None:
    """A callback that raises gets SNS to send the confirmation again (500)."""

    def on_sns_subscription(message: SNSSubscriptionMessage) -> None:
        raise RuntimeError("not now")

    ingress = Recorder().ingress(on_sns_subscription=on_sns_subscription)
    async with client(app_for(ingress)) as http:
        body = dumps(confirmation())
        response = await post(
            http, body, sns_headers("SubscriptionConfirmation"), sign=ingress.verifier
        )
    assert response.status_code == 500
