"""The events a catalogue lists: registered names and handler patterns, with their models."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._event import normalize_event_name
from .._reporting import describe_handler

__all__ = ["EventEntry", "Namer", "collect_events", "is_pattern", "matches", "qualified_name"]

_WILDCARDS = "*?["
_INVALID = re.compile(r"[^A-Za-z0-9._-]+")
_READABLE = {"*": "any", "?": "one"}
_MAX_ID = 100


def is_pattern(key: str) -> bool:
    """Whether ``key`` is an fnmatch pattern rather than one event name."""
    return any(char in key for char in _WILDCARDS)


def matches(pattern: str, name: str) -> bool:
    """Whether the local handler pattern ``pattern`` matches the event name ``name``."""
    return name == pattern or (is_pattern(pattern) and fnmatch.fnmatchcase(name, pattern))


def qualified_name(function: Callable[..., Any] | object) -> str:
    """``module.qualname`` of a function or handler object."""
    return describe_handler(function)


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One event name (or handler pattern) of the catalogue, with its payload model.

    Attributes:
        key: the name as matched (an Enum's value), or a local handler's pattern.
        model: the pydantic model of its payload, if one is registered.
    """

    key: str
    model: type | None = None

    @property
    def pattern(self) -> bool:
        """Whether this entry stands for every event whose name matches a pattern."""
        return is_pattern(self.key)


def collect_events(
    schemas: Mapping[str, type], models: Iterable[type], patterns: Iterable[str]
) -> list[EventEntry]:
    """The events of ``schemas`` (name -> model), of ``models`` (by ``__event_name__``)
    and the handler ``patterns``, once each, in that order (a registered schema wins)."""
    found: dict[str, type | None] = {}
    for name, model in schemas.items():
        found.setdefault(normalize_event_name(name), model)
    for model in models:
        declared = getattr(model, "__event_name__", None)
        if declared is not None:
            found.setdefault(normalize_event_name(declared), model)
    for pattern in patterns:
        found.setdefault(pattern, None)
    return [EventEntry(key, model) for key, model in found.items()]


class Namer:
    """Unique ids for one map of the document, from free text (``user.*`` -> ``user.any``)."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def __call__(self, text: str) -> str:
        """A new id made from ``text``: ASCII letters, digits, ``.``, ``_`` and ``-``."""
        base = "".join(_READABLE.get(char, char) for char in text)
        base = _INVALID.sub("_", base).strip("_")[:_MAX_ID] or "event"
        name, number = base, 1
        while name in self._taken:
            number += 1
            name = f"{base}_{number}"
        self._taken.add(name)
        return name
