"""What the SQS and Pub/Sub forwarders share: batches in, one telemetry span per batch."""

from __future__ import annotations

import asyncio
import threading
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from .._context import current_telemetry
from .._event import Event
from .base import BaseEventHandler

__all__ = ["Forwarder"]


class Forwarder(BaseEventHandler):
    """A handler that sends each batch of events to a remote destination with a client
    created once, in a worker thread, at startup or at the first event."""

    #: ``messaging.system`` of the OpenTelemetry conventions (``aws_sqs``, ``gcp_pubsub``).
    messaging_system: ClassVar[str]

    def __init__(self) -> None:
        self._client: Any = None
        self._client_lock = threading.Lock()  # one client, however many events race for it

    @abstractmethod
    def _new_client(self) -> Any:
        """Build the client (runs in a worker thread)."""

    def _create_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    async def _get_client(self) -> Any:
        """The client, created off the event loop if there is none yet."""
        return self._client or await asyncio.to_thread(self._create_client)

    async def astart(self) -> None:
        """Create the client now, in a worker thread (called at application startup)."""
        await self._get_client()

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
