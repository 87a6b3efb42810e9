"""RecordingHandler: an in-memory stand-in for a forwarder, with the capture's assertions."""

from __future__ import annotations

import pytest

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.testing import RecordingHandler
from tests.apps import build_app
from tests.testing.apps import make_app, sync_client


def test_keeps_one_batch_per_request() -> None:
    """Each request's events arrive as one batch, in dispatch order."""
    recorder = RecordingHandler()
    with sync_client("starlette", make_app("starlette", [recorder])) as client:
        client.get("/events?n=2")
        client.get("/events?n=1")
    assert [[e.key for e in batch] for batch in recorder.batches] == [
        ["item.0", "item.1"],
        ["item.0"],
    ]


def test_is_closed_when_the_app_shuts_down() -> None:
    """aclose() at lifespan shutdown is recorded, as a forwarder would flush there."""
    recorder = RecordingHandler()
    with sync_client("fastapi", make_app("fastapi", [recorder])):
        assert not recorder.closed
    assert recorder.closed


def test_does_not_receive_discarded_events_of_failed_requests() -> None:
    """What it receives is what a forwarder would: discarded events never arrive."""
    recorder = RecordingHandler()
    app = build_app("fastapi", [recorder], on_failed_request="discard")
    with sync_client("fastapi", app) as client:
        client.get("/status/500")
        client.get("/status/200")
    recorder.assert_not_dispatched("status.reply", {"code": 500})
    recorder.assert_dispatched("status.reply", {"code": 200}, times=1)


@pytest.mark.anyio
async def test_failure_messages_say_received() -> None:
    """Its assertion failures speak of events received, not dispatched."""
    recorder = RecordingHandler()
    async with event_scope(handlers=[recorder]):
        dispatch("order.created", {"total": 12})
    with pytest.raises(AssertionError) as info:
        recorder.assert_dispatched("order.created", {"total": 10})
    assert str(info.value) == (
        "expected an event matching 'order.created' with a payload containing {'total': 10} "
        "to be received, but none was.\n"
        "Received (1 event, closest match first):\n"
        "  #1 'order.created' {'total': 12}\n"
        "      - 'total': expected 10, got 12"
    )


@pytest.mark.anyio
async def test_clear_forgets_what_was_received() -> None:
    """clear() empties the recorder; an empty recorder is still truthy."""
    recorder = RecordingHandler()
    async with event_scope(handlers=[recorder]):
        dispatch("a")
    recorder.clear()
    assert (len(recorder), recorder.events, bool(recorder)) == (0, [], True)
