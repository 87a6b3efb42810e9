"""Assertions over recorded events, whose failures list what *was* dispatched, closest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._event import Event, EventName, normalize_event_name
from ._explain import (
    MAX_LISTED,
    Candidate,
    describe_expectation,
    event_line,
    judge,
    listing,
    name_matches,
    order_failure,
    payload_differences,
)

__all__ = [
    "EventAssertions",
    "ExpectedEvent",
    "assert_dispatched",
    "assert_dispatched_in_order",
    "assert_not_dispatched",
    "matching_events",
]

#: One step of :func:`assert_dispatched_in_order`: a name or pattern, or ``(name, payload)``.
ExpectedEvent = EventName | tuple[EventName, Any]


def matching_events(
    events: Iterable[Event], name: EventName = "*", payload: Any = None
) -> list[Event]:
    """The events whose name matches ``name`` (an fnmatch pattern) and whose payload matches.

    ``payload``: a mapping matches payloads containing its keys with equal values (pydantic
    models and dataclasses are compared by their fields); anything else must be equal;
    ``None`` matches any payload.

    .. versionadded:: 1.0
    """
    pattern = normalize_event_name(name)
    return [
        event
        for event in events
        if name_matches(pattern, event.key)
        and (payload is None or not payload_differences(payload, event.payload))
    ]


def assert_dispatched(
    events: Iterable[Event],
    name: EventName,
    payload: Any = None,
    *,
    times: int | None = None,
    source: str = "dispatched",
) -> list[Event]:
    """Assert that ``events`` hold an event matching ``name`` (and ``payload``); return the matches.

    Args:
        events: the recorded events (an :class:`EventCapture`, a :class:`RecordingHandler`'s
            ``events``, or any iterable of :class:`~fastapi_events.Event`).
        name: the event name, or an fnmatch pattern (``"order.*"``); an Enum stands for its
            value.
        payload: a mapping the payload must contain (other keys ignored; values compared
            with ``==``, so :data:`unittest.mock.ANY` works), or an exact payload.
        times: how many matching events there must be (default: at least one).
        source: the verb failure messages use (``"dispatched"``, ``"received"``).

    Raises:
        AssertionError: no (or not ``times``) matching events; the message lists the
            recorded events, closest match first, with the payload keys that differ.

    .. versionadded:: 1.0
    """
    __tracebackhide__ = True
    recorded = list(events)
    pattern = normalize_event_name(name)
    candidates = judge(recorded, pattern, payload)
    matches = [candidate.event for candidate in candidates if candidate.matches]
    if (times is None and matches) or len(matches) == times:
        return matches
    if times is None:
        header = (
            f"expected an {describe_expectation(pattern, payload)} to be {source}, but none was."
        )
    else:
        expected = describe_expectation(pattern, payload, plural=times != 1)
        header = f"expected {times} {expected} to be {source}, but found {len(matches)}."
    raise AssertionError(f"{header}\n{listing(candidates, source, closest_first=True)}")


def assert_not_dispatched(
    events: Iterable[Event],
    name: EventName = "*",
    payload: Any = None,
    *,
    source: str = "dispatched",
) -> None:
    """Assert that no event in ``events`` matches ``name`` (and ``payload``).

    The default ``name="*"`` asserts that nothing at all was dispatched.

    Raises:
        AssertionError: some did; the message lists them.

    .. versionadded:: 1.0
    """
    __tracebackhide__ = True
    recorded = list(events)
    pattern = normalize_event_name(name)
    offending = [c for c in judge(recorded, pattern, payload) if c.matches]
    if not offending:
        return
    was = "was" if len(offending) == 1 else "were"
    lines = [
        f"expected no {describe_expectation(pattern, payload)} to be {source}, "
        f"but {len(offending)} {was}:"
    ]
    lines.extend(event_line(candidate) for candidate in offending[:MAX_LISTED])
    if len(offending) > MAX_LISTED:
        lines.append(f"  ... and {len(offending) - MAX_LISTED} more")
    raise AssertionError("\n".join(lines))


def _step(expected: ExpectedEvent) -> tuple[str, Any]:
    if isinstance(expected, tuple):
        name, payload = expected
        return normalize_event_name(name), payload
    return normalize_event_name(expected), None


def assert_dispatched_in_order(
    events: Iterable[Event], *expected: ExpectedEvent, source: str = "dispatched"
) -> list[Event]:
    """Assert that events matching ``expected`` occur in that order (others may come between).

    Each step is a name or pattern, or a ``(name, payload)`` pair matched as in
    :func:`assert_dispatched`. Returns the matched events, one per step.

    Raises:
        AssertionError: a step has no matching event after the previous step's; the message
            shows which steps matched where and lists the events in dispatch order.

    .. versionadded:: 1.0
    """
    __tracebackhide__ = True
    recorded = list(events)
    steps = [_step(item) for item in expected]
    found: list[Candidate] = []
    start = 0
    for index, (pattern, payload) in enumerate(steps, start=1):
        candidates = judge(recorded, pattern, payload)
        hit = next((c for c in candidates[start:] if c.matches), None)
        if hit is None:
            raise AssertionError(order_failure(steps, index, found, candidates, start, source))
        found.append(hit)
        start = hit.position
    return [candidate.event for candidate in found]


class EventAssertions:
    """The assertion methods shared by :class:`EventCapture` and :class:`RecordingHandler`.

    Subclasses provide :attr:`events`.

    .. versionadded:: 1.0
    """

    #: The verb failure messages use for how the events got here.
    _source = "dispatched"

    @property
    def events(self) -> list[Event]:
        """The recorded events, oldest first (a copy)."""
        raise NotImplementedError

    @property
    def names(self) -> list[str]:
        """The names of the recorded events as matched (an Enum name by its value)."""
        return [event.key for event in self.events]

    @property
    def payloads(self) -> list[Any]:
        """The payloads of the recorded events, oldest first."""
        return [event.payload for event in self.events]

    def matching(self, name: EventName = "*", payload: Any = None) -> list[Event]:
        """The recorded events matching ``name`` (an fnmatch pattern) and ``payload``."""
        return matching_events(self.events, name, payload)

    def assert_dispatched(
        self, name: EventName, payload: Any = None, *, times: int | None = None
    ) -> list[Event]:
        """Assert an event matching ``name`` (and ``payload``) was recorded; see
        :func:`~fastapi_events.testing.assert_dispatched`."""
        __tracebackhide__ = True
        return assert_dispatched(self.events, name, payload, times=times, source=self._source)

    def assert_not_dispatched(self, name: EventName = "*", payload: Any = None) -> None:
        """Assert no event matching ``name`` (and ``payload``) was recorded; ``"*"``: none
        at all."""
        __tracebackhide__ = True
        assert_not_dispatched(self.events, name, payload, source=self._source)

    def assert_dispatched_in_order(self, *expected: ExpectedEvent) -> list[Event]:
        """Assert events matching ``expected`` were recorded in that order."""
        __tracebackhide__ = True
        return assert_dispatched_in_order(self.events, *expected, source=self._source)
