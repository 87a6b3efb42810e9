"""An in-memory handler to put where a test app would forward to SQS or Pub/Sub."""

from __future__ import annotations

from collections.abc import Sequence

from .._event import Event
from ..handlers.base import BaseEventHandler
from ._assertions import EventAssertions

__all__ = ["RecordingHandler"]


class RecordingHandler(EventAssertions, BaseEventHandler):
    """Keeps every event it is given, batch by batch, with the assertions of a capture.

    Put it in a test app's ``handlers=[...]`` in place of a forwarder: it sees the events
    a forwarder would send (after the response, lazy payloads evaluated, failed requests
    discarded if the middleware says so). Assertion failures say "received".

    Example::

        recorder = RecordingHandler()
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[recorder])
        ...
        recorder.assert_dispatched("order.created", {"total": 10})

    Attributes:
        batches: the batches received, one list per ``handle_many`` call (one request's
            events, or one background batch).
        closed: ``True`` once ``aclose()`` ran (the app shut down).

    .. versionadded:: 1.0
    """

    _source = "received"

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self.closed = False

    @property
    def events(self) -> list[Event]:
        """Every event received, in the order received."""
        return [event for batch in self.batches for event in batch]

    async def handle(self, event: Event) -> None:
        """Record one event (as a batch of one)."""
        self.batches.append([event])

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Record one batch."""
        self.batches.append(list(events))

    async def aclose(self) -> None:
        """Remember that the app shut down."""
        self.closed = True

    def clear(self) -> None:
        """Forget what was received so far."""
        self.batches.clear()

    def __len__(self) -> int:
        return sum(len(batch) for batch in self.batches)

    def __bool__(self) -> bool:
        return True  # a handler is truthy even before it received anything

    def __repr__(self) -> str:
        return f"<RecordingHandler {len(self)} event(s) in {len(self.batches)} batch(es)>"
