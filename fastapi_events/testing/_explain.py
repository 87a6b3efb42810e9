"""How the test kit's assertions explain a failure: what *was* dispatched, closest first."""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Mapping
from typing import Any

from .._env import EnvFlag
from .._event import Event
from .._payload import LazyPayload
from ..constants import FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR

__all__ = [
    "MAX_LISTED",
    "MAX_REPR",
    "Candidate",
    "describe_expectation",
    "event_line",
    "judge",
    "listing",
    "name_matches",
    "order_failure",
    "payload_differences",
]

_dispatch_disabled = EnvFlag(FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR, default=False)

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


def payload_differences(expected: Any, actual: Any) -> list[str]:
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


def name_matches(pattern: str, key: str) -> bool:
    return fnmatch.fnmatchcase(key, pattern)


@dataclasses.dataclass
class Candidate:
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


def judge(events: list[Event], pattern: str, payload: Any) -> list[Candidate]:
    candidates = []
    for position, event in enumerate(events, start=1):
        named = name_matches(pattern, event.key)
        differences = [] if payload is None else payload_differences(payload, event.payload)
        similarity = difflib.SequenceMatcher(None, pattern, event.key).ratio()
        candidates.append(Candidate(position, event, named, differences, similarity))
    return candidates


def describe_expectation(pattern: str, payload: Any, *, plural: bool = False) -> str:
    text = f"event{'s' if plural else ''} matching {pattern!r}"
    if payload is None:
        return text
    if isinstance(payload, Mapping):
        return f"{text} with a payload containing {_short(dict(payload))}"
    return f"{text} with payload {_short(payload)}"


def event_line(candidate: Candidate, marker: str = "") -> str:
    event = candidate.event
    line = f"  #{candidate.position} {event.key!r} {_short(event.payload)}"
    return f"{line}  {marker}" if marker else line


def listing(
    candidates: list[Candidate],
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
    ordered = sorted(candidates, key=Candidate.rank) if closest_first else candidates
    order = "closest match first" if closest_first else "in order"
    count = f"{len(candidates)} event{'s' if len(candidates) != 1 else ''}"
    lines = [f"{source.capitalize()} ({count}, {order}):"]
    for candidate in ordered[:MAX_LISTED]:
        lines.append(event_line(candidate, (marks or {}).get(candidate.position, "")))
        if marks is None and candidate.name_matches:
            lines.extend(f"      - {difference}" for difference in candidate.differences)
    if len(ordered) > MAX_LISTED:
        lines.append(f"  ... and {len(ordered) - MAX_LISTED} more")
    return "\n".join(lines)


def order_failure(
    steps: list[tuple[str, Any]],
    failed: int,
    found: list[Candidate],
    candidates: list[Candidate],
    start: int,
    source: str,
) -> str:
    pattern, payload = steps[failed - 1]
    plan = "\n".join(
        f"  {n}. {describe_expectation(p, pl)}" for n, (p, pl) in enumerate(steps, start=1)
    )
    after = f" after #{found[-1].position}" if found else ""
    earlier = [c for c in candidates[:start] if c.matches]
    note = f" (one was {source} earlier, at #{earlier[0].position})" if earlier else ""
    marks = {c.position: f"<- step {n}" for n, c in enumerate(found, start=1)}
    return (
        f"expected events {source} in this order:\n{plan}\n"
        f"step {failed} failed: no {describe_expectation(pattern, payload)}{after}{note}.\n"
        f"{listing(candidates, source, closest_first=False, marks=marks)}"
    )
