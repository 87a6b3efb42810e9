"""What the SQS and Pub/Sub forwarders share: batches in, one telemetry span per batch."""

from __future__ import annotations

import asyncio
import threading
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from .._context import current_progress, current_telemetry
from .._event import Event
from .base import BaseEventHandler

__all__ = ["Forwarder"]

T = TypeVar("T")


class Forwarder(BaseEventHandler):
    """A handler that sends each batch of events to a remote destination with a client
    created once, in a worker thread, at startup or at the first event."""

    #: ``messaging.system`` of the OpenTelemetry conventions (``aws_sqs``, ``gcp_pubsub``).
    messaging_system: ClassVar[str]

    #: Seconds a cancelled forwarder still waits for the answer to a send already on the
    #: wire, so the events it delivered are not reported as lost (nor sent again).
    #:
    #: .. versionadded:: 1.0
    in_flight_grace: float = 5.0

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

    def _settled(self, events: Iterable[Event]) -> None:
        """Record that ``events`` are done (delivered, or reported) for this forwarder."""
        progress = current_progress()
        if progress is not None:
            for event in events:
                progress.settle(event)

    async def _outlive_cancellation(
        self, operation: Awaitable[T], on_late_result: Callable[[T], None]
    ) -> T:
        """Await a send already on the wire. If the forwarding task is cancelled
        meanwhile, wait up to :attr:`in_flight_grace` seconds for the send's answer and give
        it to ``on_late_result`` (which records what was delivered) before re-raising."""
        future = asyncio.ensure_future(operation)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait({future}, timeout=self.in_flight_grace)
            if future.done() and not future.cancelled() and future.exception() is None:
                on_late_result(future.result())
            else:
                future.add_done_callback(_observe)
            raise

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


def _observe(future: asyncio.Future[Any]) -> None:
    # Retrieve the outcome of a send nobody awaits any more (no "never retrieved" warning).
    if not future.cancelled():
        future.exception()
