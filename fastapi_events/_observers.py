"""Observers that see every dispatched event first (the test kit's capture and mute)."""

from __future__ import annotations

from collections.abc import Callable

from ._event import Event

__all__ = ["DispatchObserver", "dispatch_observers", "notify_observers"]

#: ``observer(event) -> bool``: return ``True`` to stop the event there (record-only, mute).
DispatchObserver = Callable[[Event], bool]

#: Process-wide, so events from requests, handlers, threads and tasks are all seen.
dispatch_observers: list[DispatchObserver] = []


def notify_observers(event: Event) -> bool:
    """Show ``event`` to every observer; ``True`` if any of them swallowed it."""
    swallowed = False
    for observer in list(dispatch_observers):
        swallowed = observer(event) or swallowed
    return swallowed
