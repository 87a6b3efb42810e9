"""What the SQS and Pub/Sub forwarders share: batches in, one telemetry span per batch."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from .._context import current_telemetry
from .._event import Event
from .base import BaseEventHandler

__all__ = ["Forwarder"]


class Forwarder(BaseEventHandler):
    """A handler that sends each batch of events to a remote destination."""

    #: ``messaging.system`` of the OpenTelemetry conventions (``aws_sqs``, ``gcp_pubsub``).
    messaging_system: ClassVar[str]

    @property
    @abstractmethod
    def destination(self) -> str:
        """Where the events go (the queue URL, the topic path)."""

    async def handle(self, event: Event) -> None:
        """Send one event (a failure is reported, not raised)."""
        await self.handle_many([event])

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Send ``events``, inside a batch span when tracing is configured."""
        telemetry = current_telemetry()
        if telemetry is None:
            await self._forward(events)
            return
        with telemetry.batch_span(
            events, self, system=self.messaging_system, destination=self.destination
        ):
            await self._forward(events)

    @abstractmethod
    async def _forward(self, events: Sequence[Event]) -> None:
        """Send ``events``, reporting each event that cannot be sent."""
