"""Recording and muting dispatched events, as context managers for sync and async tests."""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Iterator
from types import TracebackType
from typing import Any, overload

from .._event import Event, EventName, normalize_event_name
from .._observers import dispatch_observers
from .._payload import settled
from ._assertions import EventAssertions

__all__ = ["EventCapture", "EventMute", "capture_events", "mute_events"]


class _Observing:
    """Installs :meth:`_observe` as a dispatch observer between ``start()`` and ``stop()``.

    A context manager for ``with`` and ``async with``.
    """

    def __init__(self) -> None:
        self._observer = self._observe
        self._active = False

    def _observe(self, event: Event) -> bool:
        raise NotImplementedError

    @property
    def active(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._active

    def start(self) -> None:
        """Begin observing (what entering the context manager does).

        Raises:
            RuntimeError: already started.
        """
        if self._active:
            raise RuntimeError(f"{self!r} is already active")
        dispatch_observers.append(self._observer)
        self._active = True

    def stop(self) -> None:
        """Stop observing (what leaving the context manager does); idempotent."""
        if self._active:
            self._active = False
            # Already gone if an isolation fixture restored the observers first.
            with contextlib.suppress(ValueError):
                dispatch_observers.remove(self._observer)

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


class EventCapture(_Observing, EventAssertions):
    """Records every event dispatched while it is active, from any request, task or thread.

    It records events when ``dispatch()`` is called, before any handler runs, as the
    :class:`~fastapi_events.Event` objects handlers receive (name, payload, ``id``,
    ``timestamp``, ``trace_context``, ``correlation_id``). An event with a lazy payload
    is shown with its value once it is handled (as the event its handlers received).

    Attributes:
        handle: ``True``: events are also handled as usual. ``False``: recorded only; no
            handler sees them, and ``dispatch()`` outside a request does not raise. Read
            at each dispatch, so it may be changed while the capture is active.

    It is a list of events too (``len``, truth value, iteration, indexing: empty until
    an event is recorded, so ``assert not events`` works) with assertion methods:
    :meth:`assert_dispatched`, :meth:`assert_not_dispatched`,
    :meth:`assert_dispatched_in_order`.

    .. versionadded:: 1.0
    """

    def __init__(self, *, handle: bool = True) -> None:
        super().__init__()
        self.handle = handle
        self._events: list[Event] = []

    def _observe(self, event: Event) -> bool:
        self._events.append(event)  # atomic: safe from worker threads
        return not self.handle

    @property
    def events(self) -> list[Event]:
        """The recorded events, oldest first (a copy)."""
        return [settled(event) for event in self._events]

    def clear(self) -> None:
        """Forget the events recorded so far."""
        self._events.clear()

    def __enter__(self) -> EventCapture:
        self.start()
        return self

    async def __aenter__(self) -> EventCapture:
        return self.__enter__()

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return [settled(event) for event in self._events[index]]
        return settled(self._events[index])

    def __bool__(self) -> bool:
        return bool(self._events)  # like the list it stands for: `assert not events`

    def __repr__(self) -> str:
        mode = "recorded and handled" if self.handle else "recorded only"
        return f"<EventCapture {len(self._events)} event(s), {mode}, active={self._active}>"


def capture_events(*, handle: bool = True) -> EventCapture:
    """Record the events dispatched inside the block: ``with capture_events() as events:``.

    Works with ``with`` and ``async with``; records events from requests (any test
    client), from handlers and outside requests, in every thread.

    Args:
        handle: ``True`` (default): events are also handled as usual, so adding a capture
            does not change what a test does. ``False``: events are only recorded (no
            handler runs; like structlog's ``capture_logs``).

    Example::

        with capture_events() as events:
            client.post("/orders", json={"total": 10})
        events.assert_dispatched("order.created", {"total": 10})

    .. versionadded:: 1.0
    """
    return EventCapture(handle=handle)


class EventMute(_Observing):
    """Swallows the events whose names match its patterns while it is active.

    Payloads are still validated against their schemas (``dispatch()`` still raises for
    an invalid one); the events then reach no handler. ``count`` says how many it muted.

    .. versionadded:: 1.0
    """

    def __init__(self, *patterns: EventName) -> None:
        super().__init__()
        self.patterns = tuple(normalize_event_name(p) for p in patterns) or ("*",)
        self.count = 0

    def _observe(self, event: Event) -> bool:
        if any(fnmatch.fnmatchcase(event.key, pattern) for pattern in self.patterns):
            self.count += 1
            return True
        return False

    def __enter__(self) -> EventMute:
        self.start()
        return self

    async def __aenter__(self) -> EventMute:
        return self.__enter__()

    def __repr__(self) -> str:
        return f"<EventMute patterns={self.patterns!r} count={self.count} active={self._active}>"


def mute_events(*patterns: EventName) -> EventMute:
    """Make ``dispatch()`` drop the matching events inside the block (default: all).

    Unlike ``FASTAPI_EVENTS_DISABLE_DISPATCH``, it leaves the environment alone, can mute
    only some events (fnmatch patterns), and still validates payloads.

    Example::

        with mute_events("audit.*"):
            client.get("/")  # audit events reach no handler

    .. versionadded:: 1.0
    """
    return EventMute(*patterns)
