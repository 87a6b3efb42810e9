"""A handler that prints events to stdout."""

from __future__ import annotations

import pprint
import sys
from collections.abc import Sequence
from typing import TextIO

from .._event import Event
from .base import BaseEventHandler

__all__ = ["EchoHandler"]


class EchoHandler(BaseEventHandler):
    """Pretty-prints each event to stdout (or ``stream``), one whole write per batch.

    Args:
        stream: where to write; default ``sys.stdout`` as it is at write time.
    """

    def __init__(self, *, stream: TextIO | None = None) -> None:
        self._stream = stream

    def format(self, event: Event) -> str:
        """Return the text written for ``event``."""
        return pprint.pformat((event.name, event.payload)) + "\n"

    async def handle(self, event: Event) -> None:
        """Print one event."""
        await self.handle_many([event])

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Print a batch in one write, so concurrent drains never interleave lines."""
        stream = self._stream or sys.stdout
        stream.write("".join(self.format(event) for event in events))
        stream.flush()
