"""Assertions over recorded events, whose failures list what *was* dispatched, closest first."""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from .._event import Event, EventName, normalize_event_name
from .._lazy import LazyPayload
from ..constants import FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR
from ..dispatcher import _dispatch_disabled

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

#: How many events a failure message lists before summarising the rest.
MAX_LISTED = 10

#: How many characters of a value's repr a failure message shows.
MAX_REPR = 120


def _short(value: Any) -> str:
    if type(value) is LazyPayload:
        return "<lazy payload, not evaluated>"
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not hide the assertion
        text = f"<{type(value).__name__} with a failing repr: {exc!r}>"
    return text if len(text) <= MAX_REPR else f"{text[: MAX_REPR - 5]}...{text[-2:]}"


def _payload_view(payload: Any) -> Mapping[Any, Any] | None:
    """The payload as a mapping (pydantic models and dataclasses dumped), or ``None``."""
    if isinstance(payload, Mapping):
        return payload
    if hasattr(type(payload), "model_dump") and hasattr(type(payload), "model_fields"):
        dumped: Mapping[Any, Any] = payload.model_dump()
        return dumped
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        return dataclasses.asdict(payload)
    return None


def _payload_differences(expected: Any, actual: Any) -> list[str]:
    """What keeps ``actual`` from matching ``expected``; empty when it matches.

    A mapping ``expected`` matches a payload that contains each of its keys with an equal
    value (other keys are ignored); anything else must compare equal to the payload.
    """
    if type(actual) is LazyPayload:
        return ["payload is lazy and not evaluated yet (only handled events evaluate it)"]
    if isinstance(expected, Mapping):
        view = _payload_view(actual)
        if view is None:
            return [f"payload is not a mapping: {_short(actual)}"]
        differences = []
        for key, value in expected.items():
            if key not in view:
                differences.append(f"{key!r} is missing")
            elif value != view[key]:  # expected on the left: unittest.mock.ANY works
                differences.append(f"{key!r}: expected {_short(value)}, got {_short(view[key])}")
        return differences
    if expected == actual:
        return []
    return [f"payload: expected {_short(expected)}, got {_short(actual)}"]


def _name_matches(pattern: str, key: str) -> bool:
    return fnmatch.fnmatchcase(key, pattern)


@dataclasses.dataclass
class _Candidate:
    """One recorded event, judged against an expectation."""

    position: int
    event: Event
    name_matches: bool
    differences: list[str]
    similarity: float

    @property
    def matches(self) -> bool:
        return self.name_matches and not self.differences

    def rank(self) -> tuple[bool, int, float, int]:
        return (not self.name_matches, len(self.differences), -self.similarity, self.position)


def _judge(events: list[Event], pattern: str, payload: Any) -> list[_Candidate]:
    candidates = []
    for position, event in enumerate(events, start=1):
        name_matches = _name_matches(pattern, event.key)
        differences = [] if payload is None else _payload_differences(payload, event.payload)
        similarity = difflib.SequenceMatcher(None, pattern, event.key).ratio()
        candidates.append(_Candidate(position, event, name_matches, differences, similarity))
    return candidates


def _describe(pattern: str, payload: Any, *, plural: bool = False) -> str:
    text = f"event{'s' if plural else ''} matching {pattern!r}"
    if payload is None:
        return text
    if isinstance(payload, Mapping):
        return f"{text} with a payload containing {_short(dict(payload))}"
    return f"{text} with payload {_short(payload)}"


def _event_line(candidate: _Candidate, marker: str = "") -> str:
    event = candidate.event
    line = f"  #{candidate.position} {event.key!r} {_short(event.payload)}"
    return f"{line}  {marker}" if marker else line


def _listing(
    candidates: list[_Candidate],
    source: str,
    *,
    closest_first: bool,
    marks: Mapping[int, str] | None = None,
) -> str:
    if not candidates:
        hint = ""
        if _dispatch_disabled():
            hint = (
                f" ({FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR} is set: dispatch() returns before "
                f"anything can record an event)"
            )
        return f"No events were {source}.{hint}"
    ordered = sorted(candidates, key=_Candidate.rank) if closest_first else candidates
    order = "closest match first" if closest_first else "in order"
    count = f"{len(candidates)} event{'s' if len(candidates) != 1 else ''}"
    lines = [f"{source.capitalize()} ({count}, {order}):"]
    for candidate in ordered[:MAX_LISTED]:
        lines.append(_event_line(candidate, (marks or {}).get(candidate.position, "")))
        if marks is None and candidate.name_matches:
            lines.extend(f"      - {difference}" for difference in candidate.differences)
    if len(ordered) > MAX_LISTED:
        lines.append(f"  ... and {len(ordered) - MAX_LISTED} more")
    return "\n".join(lines)


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
        if _name_matches(pattern, event.key)
        and (payload is None or not _payload_differences(payload, event.payload))
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
    candidates = _judge(recorded, pattern, payload)
    matches = [candidate.event for candidate in candidates if candidate.matches]
    if (times is None and matches) or len(matches) == times:
        return matches
    if times is None:
        header = f"expected an {_describe(pattern, payload)} to be {source}, but none was."
    else:
        expected = _describe(pattern, payload, plural=times != 1)
        header = f"expected {times} {expected} to be {source}, but found {len(matches)}."
    raise AssertionError(f"{header}\n{_listing(candidates, source, closest_first=True)}")


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
    offending = [c for c in _judge(recorded, pattern, payload) if c.matches]
    if not offending:
        return
    was = "was" if len(offending) == 1 else "were"
    lines = [
        f"expected no {_describe(pattern, payload)} to be {source}, but {len(offending)} {was}:"
    ]
    lines.extend(_event_line(candidate) for candidate in offending[:MAX_LISTED])
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
    found: list[_Candidate] = []
    start = 0
    for index, (pattern, payload) in enumerate(steps, start=1):
        candidates = _judge(recorded, pattern, payload)
        hit = next((c for c in candidates[start:] if c.matches), None)
        if hit is None:
            raise AssertionError(_order_failure(steps, index, found, candidates, start, source))
        found.append(hit)
        start = hit.position
    return [candidate.event for candidate in found]


def _order_failure(
    steps: list[tuple[str, Any]],
    failed: int,
    found: list[_Candidate],
    candidates: list[_Candidate],
    start: int,
    source: str,
) -> str:
    pattern, payload = steps[failed - 1]
    plan = "\n".join(f"  {n}. {_describe(p, pl)}" for n, (p, pl) in enumerate(steps, start=1))
    after = f" after #{found[-1].position}" if found else ""
    earlier = [c for c in candidates[:start] if c.matches]
    note = f" (one was {source} earlier, at #{earlier[0].position})" if earlier else ""
    marks = {c.position: f"<- step {n}" for n, c in enumerate(found, start=1)}
    return (
        f"expected events {source} in this order:\n{plan}\n"
        f"step {failed} failed: no {_describe(pattern, payload)}{after}{note}.\n"
        f"{_listing(candidates, source, closest_first=False, marks=marks)}"
    )


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
