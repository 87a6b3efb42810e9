"""A handler that drops every event."""

from __future__ import annotations

from collections.abc import Sequence

from .._event import Event
from .base import BaseEventHandler

__all__ = ["NullHandler"]


class NullHandler(BaseEventHandler):
    """Drops events: a placeholder where a handler is required but nothing should happen."""

    async def handle(self, event: Event) -> None:
        """Do nothing."""

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Do nothing."""
