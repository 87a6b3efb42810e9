"""Small in-memory handlers for the core tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi_events._event import Event
from fastapi_events.handlers.base import BaseEventHandler


class Recorder(BaseEventHandler):
    """Records every batch it receives."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[object, object]]] = []
        self.received = asyncio.Event()

    async def handle(self, event: Event) -> None:  # pragma: no cover - handle_many overrides
        raise AssertionError("handle_many is overridden")

    async def handle_many(self, events: Sequence[Event]) -> None:
        self.batches.append([(e.name, e.payload) for e in events])
        self.received.set()

    @property
    def names(self) -> list[object]:
        return [name for batch in self.batches for name, _ in batch]


class Failing(BaseEventHandler):
    """A handler object whose ``handle`` always raises."""

    async def handle(self, event: Event) -> None:
        raise ValueError(f"cannot handle {event.key}")
