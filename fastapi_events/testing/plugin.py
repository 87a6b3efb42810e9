"""The pytest plugin of fastapi_events: fixtures for the test kit, none of them autouse.

Registered through the ``pytest11`` entry point, so installing the package is enough.
It imports no web framework. Disable it with ``-p no:fastapi_events``.

Fixtures:

- ``captured_events``: an :class:`~fastapi_events.testing.EventCapture` active for the
  whole test; events are also handled as usual.
- ``intercepted_events``: the same, but events are only recorded (no handler runs).
- ``muted_events``: an :class:`~fastapi_events.testing.EventMute` muting every event.
- ``event_recorder``: a fresh :class:`~fastapi_events.testing.RecordingHandler`.
- ``isolated_events``: opt-in isolation; what the test registers on ``local_handler``
  and in the default schema registry is undone after it (see
  :func:`~fastapi_events.testing.isolated_registrations`). For every test of a module:
  ``pytestmark = pytest.mark.usefixtures("isolated_events")``.

.. versionadded:: 1.0
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import EventCapture, EventMute, RecordingHandler, isolated_registrations

__all__ = [
    "captured_events",
    "event_recorder",
    "intercepted_events",
    "isolated_events",
    "muted_events",
]


@pytest.fixture
def captured_events() -> Iterator[EventCapture]:
    """Every event dispatched during the test, also handled as usual."""
    with EventCapture(handle=True) as capture:
        yield capture


@pytest.fixture
def intercepted_events() -> Iterator[EventCapture]:
    """Every event dispatched during the test, recorded only: no handler sees it."""
    with EventCapture(handle=False) as capture:
        yield capture


@pytest.fixture
def muted_events() -> Iterator[EventMute]:
    """Mute every dispatch during the test (payloads are still validated)."""
    with EventMute() as mute:
        yield mute


@pytest.fixture
def event_recorder() -> RecordingHandler:
    """A fresh in-memory handler to put in a test app's ``handlers=[...]``."""
    return RecordingHandler()


@pytest.fixture
def isolated_events() -> Iterator[None]:
    """Undo, after the test, what it registered on ``local_handler`` and the default
    schema registry."""
    with isolated_registrations():
        yield
