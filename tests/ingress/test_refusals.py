"""Requests the ingress refuses: 4xx naming the field path, type or size (never a value),
413 before reading past the cap, 415 for unknown content types, 422 for schema mismatches."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest
from pydantic import BaseModel

from fastapi_events.ingress import ALLOW_UNAUTHENTICATED
from fastapi_events.registry.payload_schema import registry
from tests.ingress.kit import Recorder, app_for, client, dumps, post, structured
from tests.leaks import assert_not_leaked, secret

pytestmark = pytest.mark.anyio

CE = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}
JSON = {"content-type": "application/json"}
MARKER = secret()
DEEP = b"[" * 100_000 + b"]" * 100_000  # nested past what the JSON parser recurses into


def pushed(message: dict[str, Any]) -> dict[str, Any]:
    return {"message": message, "subscription": "projects/p/subscriptions/s"}


BAD_BODIES = [
    (CE, b'{"specversion": "1.0", ', "body is not valid JSON"),
    (CE, dumps([1]), "body: expected a JSON object, got array"),
    (CE, dumps({"specversion": "1.0", "id": "1", "source": "/s"}), "type: missing"),
    (CE, dumps({**structured("1", "x", {}), "id": 5}), "id: expected a non-empty string"),
    (CE, dumps({**structured("1", "x", {}), "specversion": MARKER}), "specversion: only"),
    (CE, dumps(structured("1", "x", {}, time=MARKER)), "time: expected an RFC 3339"),
    (BATCH, dumps({"a": 1}), "body: expected a JSON array of CloudEvents, got object"),
    (BATCH, dumps([structured("1", "x", {}), {**structured("2", "y", {}), "type": 1}]), "[1].type"),
    (JSON, dumps({"subscription": "s"}), "message: missing"),
    (JSON, dumps(pushed({"data": 1, "messageId": "1"})),
     "message.data: expected a string, got number"),
    (JSON, dumps(pushed({"data": "%%%", "messageId": "1"})), "message.data: expected a base64"),
    (JSON, dumps(pushed({"data": "", "attributes": {"event_id": 3}, "messageId": "1"})),
     "message.attributes.event_id: expected a string, got number"),
    (JSON, dumps(pushed({"data": "", "messageId": "1"})), "message.data: not an event"),
    (JSON, dumps(pushed({"data": base64.b64encode(MARKER.encode()).decode(), "messageId": "1"})),
     "message.data: not an event"),
    (CE, DEEP, "body is not valid JSON (RecursionError)"),
    (JSON, dumps(pushed({"data": base64.b64encode(DEEP).decode(), "messageId": "1"})),
     "message.data: not an event"),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "body", "expected"), BAD_BODIES)
async def test_a_bad_body_is_a_400_naming_the_field(
    headers: dict[str, str], body: bytes, expected: str, library_logs: list[logging.LogRecord]
) -> None:
    """Bad JSON, missing fields, wrong types: 400, the message names the path and type,
    nothing was handled, and no value of the body reaches the answer or the logs."""
    recorder = Recorder()
    ingress = recorder.ingress()
    async with client(app_for(ingress)) as http:
        response = await post(http, body, headers, sign=ingress.verifier)
    assert response.status_code == 400
    assert expected in response.json()["error"]
    assert MARKER not in response.text
    assert_not_leaked(MARKER, library_logs)
    assert recorder.events == []
    assert ingress.stats.rejected == 1


NOTE = {"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:1:t"}
SNS_BAD = [
    ({**NOTE, "MessageId": None, "Message": "[]"}, "MessageId: expected a non-empty string"),
    ({**NOTE, "Message": 3}, "Message: expected a string, got number"),
    ({**NOTE, "Message": MARKER}, "Message: not an event"),
    ({**NOTE, "Message": "[]", "MessageAttributes": {"event_id": {"Type": "String", "Value": 1}}},
     "MessageAttributes.event_id.Value: expected a string"),
    ({**NOTE, "Type": MARKER}, "Type: differs from the x-amz-sns-message-type header"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "expected"), SNS_BAD)
async def test_a_bad_sns_message_is_a_400_naming_the_field(
    document: dict[str, Any], expected: str
) -> None:
    """SNS documents are checked field by field, too."""
    ingress = Recorder().ingress()
    headers = {"content-type": "text/plain", "x-amz-sns-message-type": "Notification"}
    async with client(app_for(ingress)) as http:
        response = await post(http, dumps(document), headers, sign=ingress.verifier)
    assert response.status_code == 400
    assert expected in response.json()["error"]
    assert MARKER not in response.text


UNSUPPORTED = [
    ({"content-type": "text/plain"}, "unsupported content type 'text/plain'; expected ce-*"),
    ({}, "unsupported content type no content-type"),
    ({**CE, "content-encoding": "gzip"}, "compressed bodies are not accepted"),
    ({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "x", "ce-source": "/s",
      "content-type": "text/plain"}, "binary CloudEvents data must be JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "expected"), UNSUPPORTED)
async def test_an_unknown_content_type_is_a_415(headers: dict[str, str], expected: str) -> None:
    """A content type (or encoding) no accepted format has: 415 saying what is expected."""
    ingress = Recorder().ingress()
    async with client(app_for(ingress)) as http:
        response = await post(http, b"hello", headers, sign=ingress.verifier)
    assert response.status_code == 415
    assert expected in response.json()["error"]


async def test_formats_not_accepted_are_a_415() -> None:
    """formats=["cloudevents"]: a Pub/Sub push envelope is refused."""
    ingress = Recorder().ingress(formats=["cloudevents"])
    async with client(app_for(ingress)) as http:
        response = await post(http, dumps(pushed({})), JSON, sign=ingress.verifier)
    assert response.status_code == 415
    assert "Pub/Sub" not in response.json()["error"]


async def test_other_methods_are_a_405() -> None:
    """GET on the ingress itself: 405 with Allow: POST."""
    ingress = Recorder().ingress()
    async with client(ingress) as http:
        response = await http.get("/")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


class Order(BaseModel):
    order: int
    items: list[int]


async def test_a_payload_not_matching_its_schema_is_a_422_naming_the_path(
    library_logs: list[logging.LogRecord],
) -> None:
    """A registered pydantic model validates the payload: 422 naming data.<path> and the
    error type, not the value; nothing in the batch is handled."""
    registry.register(Order, event_name="order.placed")
    recorder = Recorder()
    ingress = recorder.ingress()
    batch = [
        structured("1", "order.placed", {"order": 1, "items": [1]}),
        structured("2", "order.placed", {"order": 2, "items": [3, MARKER]}),
    ]
    async with client(app_for(ingress)) as http:
        response = await post(http, dumps(batch), BATCH, sign=ingress.verifier)
    assert response.status_code == 422
    error = response.json()["error"]
    assert "event 1 ('order.placed')" in error
    assert "data.items[1]: int_parsing" in error
    assert MARKER not in response.text
    assert_not_leaked(MARKER, library_logs)
    assert recorder.events == []


async def test_a_valid_payload_reaches_handlers_dumped() -> None:
    """A matching payload is validated and handed over as the dumped model."""
    registry.register(Order, event_name="order.placed")
    recorder = Recorder()
    ingress = recorder.ingress()
    body = dumps(structured("1", "order.placed", {"order": "5", "items": ["1"]}))
    async with client(app_for(ingress)) as http:
        response = await post(http, body, CE, sign=ingress.verifier)
    assert response.status_code == 200, response.text
    assert recorder.events[0].payload == {"order": 5, "items": [1]}


async def test_a_content_length_over_the_cap_is_a_413_before_reading() -> None:
    """content-length over max_body_bytes: 413 without a single receive()."""
    ingress = Recorder().ingress(max_body_bytes=100)
    received: list[Any] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": False}

    sent = await call(ingress, receive, [(b"content-length", b"1000")])
    assert sent[0]["status"] == 413
    assert received == []


async def test_a_streaming_body_over_the_cap_is_a_413_without_reading_all() -> None:
    """A chunked body that would block after passing the cap: 413 at once, and never more
    than the cap (plus one chunk) is read."""
    ingress = Recorder().ingress(max_body_bytes=100)
    forever = asyncio.Event()
    chunks = 0

    async def receive() -> dict[str, Any]:
        nonlocal chunks
        chunks += 1
        if chunks > 3:
            await forever.wait()  # the rest of the body never comes
        return {"type": "http.request", "body": b"x" * 40, "more_body": True}

    sent = await asyncio.wait_for(call(ingress, receive, []), timeout=30)
    assert sent[0]["status"] == 413
    assert chunks == 3
    assert "100-byte" in sent[1]["body"].decode()


async def call(ingress: Any, receive: Any, headers: list[tuple[bytes, bytes]]) -> list[Any]:
    """Call ``ingress`` as a server would; the messages it sent."""
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await ingress(scope, receive, send)
    return sent


async def test_an_unauthenticated_ingress_still_refuses_bad_bodies() -> None:
    """ALLOW_UNAUTHENTICATED skips verification only: the body is checked all the same."""
    ingress = Recorder().ingress(verifier=ALLOW_UNAUTHENTICATED)
    async with client(app_for(ingress)) as http:
        response = await http.post("/events", content=b"{}", headers=CE)
    assert response.status_code == 400
    assert response.json() == {"error": "specversion: missing"}
