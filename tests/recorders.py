"""Small in-memory handlers for the core tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi_events._event import Event
from fastapi_events.handlers.base import BaseEventHandler
from fastapi_events.testing import RecordingHandler


class Recorder(RecordingHandler):
    """The test kit's RecordingHandler, plus an asyncio.Event set at every batch."""

    def __init__(self) -> None:
        super().__init__()
        self.received = asyncio.Event()

    async def handle_many(self, events: Sequence[Event]) -> None:
        await super().handle_many(events)
        self.received.set()

    @property
    def names(self) -> list[object]:
        return [event.name for event in self.events]


class Failing(BaseEventHandler):
    """A handler object whose ``handle`` always raises."""

    async def handle(self, event: Event) -> None:
        raise ValueError(f"cannot handle {event.key}")
