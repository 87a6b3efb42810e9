"""Test kit: capture, assert on, wait for and mute the events your code dispatches.

Example::

    from fastapi.testclient import TestClient
    from fastapi_events.testing import capture_events

    def test_signup_announces_the_user():
        with TestClient(app) as client, capture_events() as events:
            client.post("/users", json={"name": "ann"})
        events.assert_dispatched("user.created", {"name": "ann"})

With pytest, the fixtures ``captured_events``, ``intercepted_events``, ``muted_events``,
``event_recorder`` and ``isolated_events`` are available without any conftest (the
``fastapi_events.testing.plugin`` pytest plugin is registered by the package).

.. versionadded:: 1.0
"""

from __future__ import annotations

from ..errors import PendingEventsTimeout
from ._assertions import (
    EventAssertions,
    ExpectedEvent,
    assert_dispatched,
    assert_dispatched_in_order,
    assert_not_dispatched,
    matching_events,
)
from ._capture import EventCapture, EventMute, capture_events, mute_events
from ._isolation import isolated_registrations
from ._recording import RecordingHandler
from ._waiting import DEFAULT_TIMEOUT, wait_until_handled, wait_until_handled_sync

__all__ = [
    "DEFAULT_TIMEOUT",
    "EventAssertions",
    "EventCapture",
    "EventMute",
    "ExpectedEvent",
    "PendingEventsTimeout",
    "RecordingHandler",
    "assert_dispatched",
    "assert_dispatched_in_order",
    "assert_not_dispatched",
    "capture_events",
    "isolated_registrations",
    "matching_events",
    "mute_events",
    "wait_until_handled",
    "wait_until_handled_sync",
]
