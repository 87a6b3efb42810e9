"""A handler that prints events to stdout: pretty-printed, or one JSON line per event."""

from __future__ import annotations

import pprint
import sys
from collections.abc import Sequence
from typing import Literal, TextIO

from .._event import Event
from .._json import dumps
from .._redact import capped_repr
from .._reporting import report_failure
from ..errors import ConfigurationError
from .base import BaseEventHandler

__all__ = ["EchoHandler"]


class EchoHandler(BaseEventHandler):
    """Prints each event to stdout (or ``stream``), one whole write per batch.

    Args:
        stream: where to write; default ``sys.stdout`` as it is at write time.
        format: ``"pretty"`` (0.12's ``pprint`` of ``(name, payload)``) or ``"json"``: one
            JSON object per line with ``name``, ``id``, ``time`` and ``payload``, for log
            pipelines. An event that cannot be formatted (not JSON-encodable, nested too
            deeply) is reported; the others are written.

    .. versionchanged:: 1.0
       ``stream`` and ``format``.
    """

    def __init__(
        self, *, stream: TextIO | None = None, format: Literal["pretty", "json"] = "pretty"
    ) -> None:
        if format not in ("pretty", "json"):
            raise ConfigurationError(
                f"EchoHandler format must be 'pretty' or 'json', got {capped_repr(format)}"
            )
        self._stream = stream
        self._json = format == "json"

    def format(self, event: Event) -> str:
        """Return the text written for ``event``, ending with a newline."""
        if self._json:
            record = {
                "name": event.key,
                "id": event.id,
                "time": event.timestamp.isoformat(),
                "payload": event.payload,
            }
            return dumps(record) + "\n"
        return pprint.pformat((event.name, event.payload)) + "\n"

    async def handle(self, event: Event) -> None:
        """Print one event."""
        await self.handle_many([event])

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Print a batch in one write, so concurrent drains never interleave lines."""
        lines = []
        for event in events:
            try:
                lines.append(self.format(event))
            except Exception as exc:  # e.g. RecursionError: only this event is lost
                report_failure(event, self, exc)
        stream = self._stream or sys.stdout
        stream.write("".join(lines))
        stream.flush()
