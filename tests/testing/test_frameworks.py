"""The kit with each framework's TestClient and with httpx.ASGITransport."""

from __future__ import annotations

import httpx
import pytest

from fastapi_events.testing import (
    RecordingHandler,
    capture_events,
    wait_until_handled,
    wait_until_handled_sync,
)
from tests.testing.apps import APPS, SlowRecorder, chaining_handler, make_app, sync_client


@pytest.mark.parametrize("kind", APPS)
def test_sync_test_client_request_and_chained_events_are_captured(kind: str) -> None:
    """Events from the request and from a handler are captured; the wait covers the chain."""
    recorder = SlowRecorder()
    app = make_app(kind, [chaining_handler(), recorder])
    with capture_events() as events, sync_client(kind, app) as client:
        assert client.get("/events?n=2").status_code == 200
        wait_until_handled_sync()
        events.assert_dispatched_in_order("item.0", "item.1", ("item.chained", {"from": 0}))
        recorder.assert_dispatched("item.chained", {"from": 0}, times=1)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", APPS)
async def test_asgi_transport_request_and_chained_events_are_captured(kind: str) -> None:
    """Same with httpx.ASGITransport in an async test, waiting with the async helper."""
    recorder = SlowRecorder()
    app = make_app(kind, [chaining_handler(), recorder])
    transport = httpx.ASGITransport(app)
    with capture_events() as events:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/events?n=2")).status_code == 200
            await wait_until_handled()
    events.assert_dispatched_in_order("item.0", "item.1", "item.chained")
    recorder.assert_dispatched_in_order("item.0", "item.1", "item.chained")


@pytest.mark.parametrize("kind", APPS)
def test_intercepting_capture_keeps_events_from_the_app_handlers(kind: str) -> None:
    """With handle=False the request's events are recorded and no handler receives them."""
    recorder = RecordingHandler()
    app = make_app(kind, [recorder])
    with capture_events(handle=False) as events, sync_client(kind, app) as client:
        client.get("/events?n=3")
    assert events.names == ["item.0", "item.1", "item.2"]
    assert recorder.events == []
