"""Handlers for relays started by ``python -m fastapi_events.outbox`` in the tests.

``handlers()`` returns one :class:`FileRecorder`: it appends each event id to the file
``$OUTBOX_TEST_RECORD`` (one line, written before the next event) and, once it has
written ``$OUTBOX_TEST_HANG_AFTER`` ids, hangs there: a relay stuck mid-publish, for the
test to kill.
"""

from __future__ import annotations

import asyncio
import os

from fastapi_events.handlers.base import BaseEventHandler
from fastapi_events.typing import Event

__all__ = ["FileRecorder", "handlers"]


class FileRecorder(BaseEventHandler):
    """Appends event ids to a file; hangs after a given number of them."""

    def __init__(self) -> None:
        self.path = os.environ["OUTBOX_TEST_RECORD"]
        self.hang_after = int(os.environ.get("OUTBOX_TEST_HANG_AFTER", "0"))
        self.count = 0

    async def handle(self, event: Event) -> None:
        with open(self.path, "a", encoding="utf-8") as record:
            record.write(f"{event.id}\n")
        self.count += 1
        if self.count == self.hang_after:
            await asyncio.Event().wait()


def handlers() -> list[BaseEventHandler]:
    """The relay's handlers (a factory: the CLI calls it)."""
    return [FileRecorder()]
