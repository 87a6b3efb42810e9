"""Event.correlation_id: from asgi-correlation-id or a request header, to chained events and
into forwarded message attributes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI

from fastapi_events import wait_for_pending
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, decode, encode

pytestmark = pytest.mark.anyio


def recording_app(seen: list[Event], **options: Any) -> FastAPI:
    handler = LocalHandler()

    @handler.register(event_name="order.*")
    async def record(event: Event) -> None:
        seen.append(event)
        if event.key == "order.placed":
            dispatch("order.chained")

    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler], **options)

    @app.post("/orders")
    async def place() -> dict[str, str]:
        dispatch("order.placed", {"id": 1})
        return {}

    return app


async def post(app: Any, headers: dict[str, str]) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        assert (await client.post("/orders", headers=headers)).status_code == 200
    await wait_for_pending(5)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Request-ID": "req-1"}, "req-1"),
        ({"X-Correlation-ID": "corr-2"}, "corr-2"),
        ({"X-Correlation-ID": "corr-2", "X-Request-ID": "req-1"}, "req-1"),
        ({}, None),
        ({"X-Request-ID": "x" * 1000}, "x" * 128),
    ],
)
async def test_the_header_reaches_the_event_and_chained_events(
    headers: dict[str, str], expected: str | None
) -> None:
    """X-Request-ID, then X-Correlation-ID, capped at 128 characters; chained events too."""
    seen: list[Event] = []
    await post(recording_app(seen), headers)
    assert [(e.key, e.correlation_id) for e in seen] == [
        ("order.placed", expected),
        ("order.chained", expected),
    ]


async def test_a_configured_header_name_and_none() -> None:
    """correlation_id_header names the header; None reads no header."""
    seen: list[Event] = []
    await post(recording_app(seen, correlation_id_header="Trace-Id"), {"Trace-Id": "t-3"})
    await post(recording_app(seen, correlation_id_header=None), {"X-Request-ID": "req-1"})
    assert [e.correlation_id for e in seen if e.key == "order.placed"] == ["t-3", None]


async def test_asgi_correlation_id_wins_when_it_runs() -> None:
    """With asgi-correlation-id's middleware outside ours, its (validated) id is used."""
    seen: list[Event] = []
    app = recording_app(seen)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    await post(app, {})
    generated = seen[0].correlation_id
    assert generated and len(generated) == 32  # a uuid4 hex it generated
    assert seen[1].correlation_id == generated


@pytest.mark.parametrize(
    "format_", [None, CloudEventsFormat(source="/t"), CloudEventsFormat("/t", mode="binary")]
)
def test_forwarded_messages_carry_it_and_decode_reads_it(format_: Any) -> None:
    """Every message format carries the correlation id; decode() gives it back."""
    event = Event("order.placed", {"id": 1}, correlation_id="req-9")
    message = encode(event, format_)
    received = decode(message.body, message.attributes)
    assert received.correlation_id == "req-9"
    assert decode(*_without(encode(Event("x", {}), format_))).correlation_id is None


def _without(message: Any) -> tuple[bytes, dict[str, str]]:
    return message.body, message.attributes
