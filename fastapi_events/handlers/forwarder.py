"""Write your own forwarder: implement :meth:`Forwarder.connect` and :meth:`Forwarder.send`.

The base connects once, routes events to destinations, encodes and batches them, retries
transient failures with backoff, reports every event it cannot deliver exactly once, opens
one batch span, lets a send on the wire outlive a cancelled drain, closes the client at
shutdown and answers :meth:`Forwarder.check_health`.

Example::

    class WebhookForwarder(Forwarder):
        async def connect(self) -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url="https://hooks.example")

        async def disconnect(self, client: httpx.AsyncClient) -> None:
            await client.aclose()

        async def send(self, client, destination, batch):
            failed = []
            for message in batch:
                response = await client.post(destination, content=message.body)
                if response.is_error:
                    error = RuntimeError(f"HTTP {response.status_code}")
                    failed.append(Failure(message, error, retryable=response.is_server_error))
            return SendResult(failed)

    handler = WebhookForwarder(lambda event: f"/events/{event.key}", max_batch_size=20)

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

from .._context import current_telemetry
from .._event import Event
from .._redact import capped_text
from .._reporting import describe_handler, report_failure
from ..serialization import MessageFormat, Serializer, encode
from ._batching import RetryPolicy, split_batches
from ._forwarding import ClientSlot, checked, outlive_cancellation, settle, sort_failures
from ._outgoing import (
    Destination,
    Failure,
    OutgoingMessage,
    SendResult,
    check_destination,
    check_limit,
    error_detail,
    route,
    span_destination,
)
from .base import BaseEventHandler, HealthStatus

__all__ = [
    "Destination",
    "Failure",
    "Forwarder",
    "HealthStatus",
    "OutgoingMessage",
    "RetryPolicy",
    "SendResult",
]


class Forwarder(BaseEventHandler):
    """Base class of handlers that send events to a broker in batches.

    Subclasses implement :meth:`connect` and :meth:`send`, and may override
    :meth:`disconnect`, :meth:`ping`, :meth:`is_transient`, :meth:`encode` and
    :meth:`message_size`. The hooks run on the event loop: wrap a blocking SDK's calls in
    ``asyncio.to_thread``.

    Args:
        destination: where events go, a name or ``event -> name`` (events are grouped by
            destination, dispatch order kept within each).
        serializer: the body: ``(name, payload) -> str | bytes`` or a
            :class:`~fastapi_events.serialization.MessageFormat` (default: the JSON array).
        max_batch_size: messages per :meth:`send` (``None``: no count limit).
        max_batch_bytes: bytes per :meth:`send` by :meth:`message_size` (``None``: no limit;
            a message bigger on its own goes alone, and the broker decides).
        retry: backoff for transient failures (default :class:`RetryPolicy`).

    Raises:
        ConfigurationError: an argument is out of range.

    .. versionadded:: 1.0
    """

    #: ``messaging.system`` of the OpenTelemetry conventions (``kafka``, ``redis``...).
    messaging_system: ClassVar[str] = "custom"
    #: The client belongs to the loop that connected it (asyncio clients): used from
    #: another loop (test clients), the forwarder connects again. ``False`` for clients
    #: any thread may use.
    client_per_loop: ClassVar[bool] = True
    #: Where failures are logged (a subclass sets its module's logger).
    log: ClassVar[logging.Logger] = logging.getLogger(__name__)

    #: Seconds a cancelled forwarder still waits for the answer to a send already on the
    #: wire, so the events it delivered are not reported as lost (nor sent again).
    in_flight_grace: float = 5.0
    #: Seconds :meth:`check_health` waits for a connection and a ping.
    health_timeout: float = 5.0

    def __init__(
        self,
        destination: Destination,
        *,
        serializer: Serializer | MessageFormat | None = None,
        max_batch_size: int | None = 100,
        max_batch_bytes: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        check_destination(destination)
        check_limit("max_batch_size", max_batch_size)
        check_limit("max_batch_bytes", max_batch_bytes)
        self.destination = destination
        self.serializer = serializer
        self.max_batch_size = max_batch_size
        self.max_batch_bytes = max_batch_bytes
        self.retry = retry or RetryPolicy()
        self._slot = ClientSlot(self.client_per_loop)

    # --- hooks --------------------------------------------------------------------------

    @abstractmethod
    async def connect(self) -> Any:
        """Create and return the client (called once, under a lock; again after
        :meth:`aclose`). Raising fails this attempt; the next send or probe tries again."""

    async def disconnect(self, client: Any) -> None:
        """Flush and close ``client`` (at :meth:`aclose`)."""

    @abstractmethod
    async def send(
        self, client: Any, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult | None:
        """Send ``batch`` to ``destination``; return the messages that failed (``None``:
        all delivered). Raising means the whole batch failed: retried if
        :meth:`is_transient`, else reported."""

    async def ping(self, client: Any) -> None:
        """Raise if the broker cannot be reached through ``client`` (for health checks)."""

    def is_transient(self, exc: Exception) -> bool:
        """Whether a batch that raised ``exc`` may go through if sent again (default:
        connection and timeout errors)."""
        return isinstance(exc, (OSError, asyncio.TimeoutError))

    def encode(self, event: Event) -> OutgoingMessage:
        """Turn ``event`` into a message with :attr:`serializer`; raising reports this
        event alone."""
        message = encode(event, self.serializer)
        return OutgoingMessage(event, message.body, message.attributes)

    def message_size(self, message: OutgoingMessage) -> int:
        """A message's bytes as :attr:`max_batch_bytes` counts them."""
        return message.size

    # --- client lifecycle ---------------------------------------------------------------

    async def get_client(self) -> Any:
        """The connected client, connecting first if there is none (for this loop)."""
        return await self._slot.get(self.connect)

    @property
    def _client(self) -> Any:
        return self._slot.client

    async def astart(self) -> None:
        """Connect now (called at application startup)."""
        await self.get_client()

    async def aclose(self) -> None:
        """Flush and close the client; the next event connects again."""
        client = self._slot.take()
        if client is not None:
            await self.disconnect(client)

    async def check_health(self) -> HealthStatus:
        """Connect if needed and :meth:`ping`, within :attr:`health_timeout` seconds."""
        name = self.describe()
        try:
            await asyncio.wait_for(self._probe(), self.health_timeout)
        except asyncio.TimeoutError:
            return HealthStatus(False, name, f"no answer within {self.health_timeout}s")
        except Exception as exc:
            return HealthStatus(False, name, error_detail(exc))
        return HealthStatus(True, name, "ok")

    async def _probe(self) -> None:
        await self.ping(await self.get_client())

    def describe(self) -> str:
        """The handler's class and destination, for health reports and logs."""
        where = self.destination if isinstance(self.destination, str) else "(routed)"
        return f"{describe_handler(self)}({capped_text(where, 120)})"

    # --- forwarding ---------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Send one event (a failure is reported, not raised)."""
        await self.handle_many([event])

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Send ``events``, inside one batch span when tracing is configured."""
        routes = self._route(events)
        telemetry = current_telemetry()
        if telemetry is None or not routes:
            await self._forward(routes)
            return
        with telemetry.batch_span(
            events, self, system=self.messaging_system, destination=span_destination(list(routes))
        ):
            await self._forward(routes)

    def _route(self, events: Sequence[Event]) -> dict[str, list[Event]]:
        return route(events, self.destination, lambda event, exc: self._report(event, exc, "?"))

    async def _forward(self, routes: dict[str, list[Event]]) -> None:
        count = self.max_batch_size or sys.maxsize
        limit = self.max_batch_bytes or sys.maxsize
        for destination, events in routes.items():
            # Encoded lazily, batch by batch, between the sends.
            messages = self._encoded(events, destination)
            for batch in split_batches(messages, self.message_size, count, limit):
                await self._deliver(destination, batch)

    def _encoded(self, events: Iterable[Event], destination: str) -> Iterator[OutgoingMessage]:
        for event in events:
            try:
                yield self.encode(event)
            except Exception as exc:
                self._report(event, exc, destination)

    async def _deliver(self, destination: str, batch: Sequence[OutgoingMessage]) -> None:
        """Send with retries; report what fails for good."""
        pending: Sequence[OutgoingMessage] = batch
        error: BaseException | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1))
            try:
                failed = await self._send_once(destination, pending)
            except Exception as exc:
                if not self.is_transient(exc):
                    await self._reject(destination, pending, exc)
                    return
                error = exc
                continue
            permanent, pending, error = sort_failures(pending, failed, error)
            for failure in permanent:
                self._report(failure.message.event, failure.error, destination)
            if not pending:
                return
        for message in pending:
            self._report(message.event, error or RuntimeError("not sent"), destination)

    async def _send_once(
        self, destination: str, batch: Sequence[OutgoingMessage]
    ) -> Sequence[Failure]:
        client = await self.get_client()
        result = await outlive_cancellation(
            checked(self.send(client, destination, batch)),
            functools.partial(self._delivered, batch),
            self.in_flight_grace,
        )
        self._delivered(batch, result)
        return result.failed

    async def _reject(
        self, destination: str, batch: Sequence[OutgoingMessage], exc: Exception
    ) -> None:
        """A batch failed whole and for good: report each of its events."""
        for message in batch:
            self._report(message.event, exc, destination)

    # --- accounting ---------------------------------------------------------------------

    def _delivered(self, batch: Sequence[OutgoingMessage], result: SendResult) -> None:
        settle(message.event for message in result.delivered(batch))

    def _report(self, event: Event, exc: BaseException, destination: str) -> None:
        where = capped_text(destination).replace("%", "%%")
        message = f"%s could not send event %s (id %s) to {where}"
        report_failure(event, self, exc, log=self.log, message=message)
        settle((event,))
