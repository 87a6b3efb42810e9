"""The per-request event buffer: collects events until the drain, queues them afterwards."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from ._context import enter_buffer, exit_buffer
from ._correlation import find_correlation_id
from ._event import Event
from ._work import LateQueue

if TYPE_CHECKING:
    from ._pipeline import EventPipeline

__all__ = ["RequestBuffer"]


class RequestBuffer:
    """Collects the events of one request (or event scope) in dispatch order.

    Until :meth:`take` is called, ``add`` appends to :attr:`events`. Afterwards (events
    from spawned tasks, streaming bodies, background tasks, chained handlers) each event
    goes to an ordered background queue of this buffer, so none is lost (upstream #34).
    It iterates over its undrained events, for code that read 0.12's ``event_store``.
    """

    __slots__ = (
        "_late",
        "drained",
        "events",
        "failed",
        "known_correlation_id",
        "pipeline",
        "scope",
    )

    def __init__(self, pipeline: EventPipeline, scope: Any = None) -> None:
        self.pipeline = pipeline
        #: The ASGI scope of the request (``None`` outside requests).
        self.scope = scope
        #: The correlation id once looked up (``False`` before: read :attr:`correlation_id`).
        self.known_correlation_id: str | Literal[False] | None = False
        self.events: list[Event] = []
        self.drained = False
        self.failed = False
        self._late: LateQueue | None = None  # created when the first late event comes

    @property
    def middleware_id(self) -> int:
        """The id of the middleware whose handlers receive these events."""
        return self.pipeline.middleware_id

    @property
    def correlation_id(self) -> str | None:
        """The request's correlation id (looked up at the first event), or ``None``."""
        found = self.known_correlation_id
        if found is False:
            found = self.known_correlation_id = find_correlation_id(
                self.scope, self.pipeline.correlation_headers
            )
        return found

    @property
    def in_request(self) -> bool:
        """True until the buffer is drained (0.12's ``in_req_res_cycle``)."""
        return not self.drained

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def add(self, event: Event) -> None:
        """Buffer ``event``, or queue it for background handling once drained."""
        if self.drained:
            self.pipeline.call_in_loop(self._add_late, event)
        else:
            self.events.append(event)

    def take(self) -> list[Event]:
        """Mark the buffer drained and return the buffered events."""
        self.drained = True
        events = self.events
        if events:
            self.events = []
        return events

    def flush_to_background(self) -> None:
        """Hand the buffered events to the ordered background queue (errors, websockets)."""
        events, self.events = self.events, []
        for event in events:
            self._add_late(event)

    def _add_late(self, event: Event) -> None:
        late = self._late
        if late is None:
            late = self._late = self.pipeline.late_queue(self._current_while)
        late.add(event)

    async def _current_while(self, work: Awaitable[None]) -> None:
        # This buffer is current while its events are handled, so what their handlers
        # dispatch (chaining) joins the same ordered queue.
        token = enter_buffer(self)
        try:
            await work
        finally:
            exit_buffer(token)
