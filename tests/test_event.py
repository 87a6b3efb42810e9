"""The Event handlers receive: 0.12's tuple shape plus metadata."""

from __future__ import annotations

import enum
from datetime import timezone

import pytest

from fastapi_events._event import Event
from fastapi_events.errors import InvalidEventNameError
from tests.leaks import MAX_MESSAGE


class E(enum.Enum):
    A = "a.b"


def test_unpacks_indexes_and_compares_like_the_0_12_tuple() -> None:
    """name, payload = event; event[0]; event[1]; equality with a 2-tuple."""
    event = Event("user.created", {"id": 1})
    name, payload = event
    assert (name, payload) == ("user.created", {"id": 1})
    assert event[0] == "user.created" and event[1] == {"id": 1} and event[-1] == {"id": 1}
    assert event == ("user.created", {"id": 1})
    assert len(event) == 2 and list(event) == ["user.created", {"id": 1}]


def test_metadata() -> None:
    """Each event has a stable unique id and an aware UTC timestamp."""
    first, second = Event("x"), Event("x")
    assert first.id == first.id and first.id != second.id
    assert first.timestamp.tzinfo is timezone.utc
    assert first.trace_context is None


def test_enum_name_key_is_its_value() -> None:
    """The key used for matching is an Enum's value; the name stays the Enum."""
    event = Event(E.A)
    assert event.name is E.A and event.key == "a.b"


def test_invalid_name() -> None:
    """A name that is neither str nor Enum fails naming the value."""
    with pytest.raises(InvalidEventNameError, match=r"1.5"):
        Event(1.5)  # type: ignore[arg-type]


def test_huge_invalid_name_makes_a_short_message() -> None:
    """A 1 MiB bytes name is echoed capped (it once made a 1 MiB message)."""
    with pytest.raises(InvalidEventNameError, match=r"\[1048576 bytes\]") as info:
        Event(b"n" * 2**20)  # type: ignore[arg-type]
    assert len(str(info.value)) <= MAX_MESSAGE
