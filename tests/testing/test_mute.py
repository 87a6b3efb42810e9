"""mute_events(): dispatch without handling, and without touching the environment."""

from __future__ import annotations

import os

import pytest
from pydantic import BaseModel, ValidationError

from fastapi_events import event_scope
from fastapi_events.constants import FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR
from fastapi_events.dispatcher import dispatch
from fastapi_events.registry.payload_schema import registry
from fastapi_events.testing import RecordingHandler, capture_events, mute_events

pytestmark = pytest.mark.anyio


async def test_mutes_every_event_by_default() -> None:
    """No handler receives an event dispatched inside the block."""
    recorder = RecordingHandler()
    async with event_scope(handlers=[recorder]):
        with mute_events() as mute:
            dispatch("a")
            dispatch("b")
        dispatch("c")
    assert recorder.names == ["c"]
    assert mute.count == 2


async def test_mutes_only_matching_patterns() -> None:
    """With patterns, only the matching events are muted."""
    recorder = RecordingHandler()
    async with event_scope(handlers=[recorder]):
        with mute_events("audit.*"):
            dispatch("audit.login")
            dispatch("user.login")
    assert recorder.names == ["user.login"]


async def test_leaves_the_environment_alone() -> None:
    """The disable-dispatch variable is not set while muted."""
    with mute_events():
        assert FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR not in os.environ


async def test_still_validates_payloads() -> None:
    """An invalid payload still raises while muted, unlike the environment switch."""

    class Signup(BaseModel):
        email: str

    registry.register(Signup, event_name="user.signed_up")
    async with mute_events():
        with pytest.raises(ValidationError):
            dispatch("user.signed_up", {"email": None})


async def test_a_capture_still_records_muted_events() -> None:
    """Muting stops handling, not recording: an active capture sees the event."""
    with capture_events() as events, mute_events():
        dispatch("muted.but.seen")
    assert events.names == ["muted.but.seen"]
