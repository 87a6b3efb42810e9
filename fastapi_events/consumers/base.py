"""The consumer base: receive, hand each event to the handlers, settle with the broker.

A subclass talks to one broker through five hooks: :meth:`Consumer.connect`,
:meth:`Consumer.receive`, :meth:`Consumer.ack`, :meth:`Consumer.retry` and
:meth:`Consumer.release` (and :meth:`Consumer.disconnect`). The base runs the loop: it
receives only as many messages as it has room for (``concurrency``), handles each in a task
of its own through the same pipeline the middleware uses (failures isolated, logged and
recorded per event), and settles each message after its handlers finished.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from .._pipeline import EventPipeline
from .._redact import capped_repr, describe_handler
from .._reporting import ErrorHook
from .._service import Service
from ..errors import ConfigurationError
from ._delivery import ConsumerStats, Delivery
from ._handling import FailureRecorder, Handling
from ._loop import SETTLE_GRACE, Loop
from ._options import Backoff, check_count, check_seconds, idempotency_store
from ._settle import Settler
from ._worker import serve
from .idempotency import IdempotencyStore

__all__ = ["Consumer", "ConsumerStats", "Delivery"]


class Consumer(Service):
    """Base class of the consumers: messages from a broker into your handler objects.

    Each message is decoded back into the :class:`~fastapi_events.Event` its producer
    dispatched (same id, name, payload, timestamp, correlation id and trace context) and
    given to every handler. It is acknowledged only once every handler took it; a failed
    one is given back for a later delivery after ``backoff`` (the broker's own mechanism),
    and dead-lettered when it failed on its ``max_deliveries``-th delivery.

    Args:
        handlers: the handler objects each event goes to (a ``LocalHandler``, forwarders,
            any ``BaseEventHandler``); started and closed with the consumer.
        concurrency: messages handled at the same time (and at most received ahead).
        max_deliveries: deliveries before a failing message is dead-lettered (``None``:
            never; leave it to the broker's own redrive policy).
        backoff: the first retry's delay bound in seconds, doubled per failed delivery...
        max_backoff: ...up to this bound (300 s, or ``backoff`` if that is more).
        dead_letter: a handler object that receives each dead-lettered event (a forwarder
            to a dead-letter queue, a local handler); when it fails, the message is
            retried rather than dropped. Messages that are not events arrive as
            ``fastapi_events.undecodable`` events holding the raw body.
        on_error: ``on_error(event, handler, exception)``, called once per dead-lettered
            event with its first failure on its last delivery.
        deduplicate: ``True`` for an in-memory
            :class:`~fastapi_events.consumers.MemoryIdempotencyStore`, or a store of
            your own: an event id handled once is acknowledged without handling again.
        shutdown_timeout: seconds :meth:`stop` lets messages in flight finish; the rest
            are given back unhandled, for redelivery.
        tracer_provider: OpenTelemetry tracer provider for the handler spans (each
            linked to the producer's dispatch span).
        meter_provider: OpenTelemetry meter provider.

    Raises:
        ConfigurationError: an argument is out of range.

    .. versionadded:: 1.0
    """

    #: ``messaging.system`` of the OpenTelemetry conventions (``aws_sqs``, ``redis``...).
    messaging_system: ClassVar[str] = "custom"
    #: :meth:`stop` waits (up to its deadline) for a receive still open, to give back
    #: what it returns; ``False``: :meth:`abandon` it at once (it gives back by itself).
    wait_for_open_receive: ClassVar[bool] = True
    #: The most messages one :meth:`receive` returns (``None``: no limit of its own).
    receive_batch: ClassVar[int | None] = None
    #: Receives the loop keeps open at once (each asks for at most :attr:`receive_batch`
    #: messages; together they never ask for more than ``concurrency``).
    receives_in_flight: int = 1

    def __init__(
        self,
        *,
        handlers: Iterable[object],
        concurrency: int = 10,
        max_deliveries: int | None = 5,
        backoff: float = 1.0,
        max_backoff: float | None = None,
        dead_letter: object | None = None,
        on_error: ErrorHook | None = None,
        deduplicate: bool | IdempotencyStore = False,
        shutdown_timeout: float = 10.0,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        self.concurrency = check_count("concurrency", concurrency)
        if max_deliveries is not None:
            check_count("max_deliveries", max_deliveries)
        if on_error is not None and not callable(on_error):
            raise ConfigurationError(f"on_error must be callable, got {capped_repr(on_error)}")
        self.max_deliveries = max_deliveries
        self.shutdown_timeout = check_seconds("shutdown_timeout", shutdown_timeout, zero=True)
        self.stats = ConsumerStats()
        self.idempotency = idempotency_store(deduplicate)
        recorder = FailureRecorder(on_error)
        telemetry = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
        self.pipeline = EventPipeline(
            handlers, middleware_id=id(self), on_error=recorder, **telemetry
        )
        if not self.pipeline.handlers:
            raise ConfigurationError(f"{type(self).__name__} needs handlers=[...]")
        #: The handler objects each event goes to (validated; the event catalogue reads them).
        self.handlers = self.pipeline.handlers
        self.dead_letter = None
        if dead_letter is not None:
            self.dead_letter = EventPipeline(
                [dead_letter], middleware_id=id(self), on_error=recorder, **telemetry
            )
        self._handling = Handling(
            self.pipeline,
            self.dead_letter,
            recorder,
            max_deliveries=max_deliveries,
            backoff=Backoff.checked(backoff, max_backoff),
            on_error=on_error,
            store=self.idempotency,
            stats=self.stats,
            describe=self.describe,
        )
        self.backoff = self._handling.backoff
        self._loop: Loop | None = None

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Open the client (called by :meth:`start`; raising fails the start)."""

    async def disconnect(self) -> None:
        """Close the client (called last by :meth:`stop`)."""

    @abstractmethod
    async def receive(self, max_messages: int) -> list[Delivery]:
        """Wait a while (one long poll) for up to ``max_messages`` messages; ``[]`` if
        none came. Raising is logged, and receiving is tried again after a pause."""

    @abstractmethod
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge ``deliveries``: the broker never delivers them again."""

    @abstractmethod
    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """Give each ``(delivery, delay)`` back for another delivery after ``delay``
        seconds."""

    @abstractmethod
    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Give ``deliveries`` back unhandled, for another delivery as soon as possible
        (at shutdown)."""

    def ready(self, max_messages: int) -> list[Delivery]:
        """Up to ``max_messages`` messages already received (a client that pushes them
        buffers them), taken without waiting; ``[]`` (the default): call :meth:`receive`."""
        return []

    def abandon(self, receiving: asyncio.Task[list[Delivery]]) -> None:
        """A receive was still waiting when :meth:`stop` ran out of time: make sure what
        it returns is given back (default: cancel it)."""
        receiving.cancel()

    def next_after(self, delivery: Delivery) -> Delivery | None:
        """Called once ``delivery`` is done (whatever its verdict): a delivery to handle
        next in the same slot, without another receive (a consumer keeping order hands over
        the next message of the group), or ``None`` (the default). At shutdown the one
        returned is given back unhandled (:meth:`release`)."""
        return None

    def describe(self) -> str:
        """The consumer's class and source, for logs (never a credential)."""
        return describe_handler(self)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of :meth:`stop`."""
        return self._loop is not None

    async def start(self) -> None:
        """Connect, start the handlers (``astart``) and start consuming in a task.

        Raises:
            ConfigurationError: already running.
        """
        if self._loop is not None:
            raise ConfigurationError(f"{self.describe()} is already running")
        await self.connect()
        for pipeline in self._pipelines():
            await pipeline.start()
        settler = Settler(self.ack, self.retry, self.release, self.stats, self.describe)
        self._loop = Loop(self, self._handling, settler)
        self._loop.start()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop receiving; let the messages in flight finish for up to ``timeout`` seconds
        (default ``shutdown_timeout``) and give the others back unhandled; send the
        pending acknowledgements and wait for the events handlers dispatched (these two get
        at least a few more seconds past the timeout); close the handlers and the client.

        Called again while stopping, it shortens the timeout and waits for the first call.
        """
        loop = self._loop
        if loop is None:
            return
        timeout = (
            self.shutdown_timeout
            if timeout is None
            else check_seconds("timeout", timeout, zero=True)
        )
        first = not loop.stopping  # else another call is stopping it
        try:
            await loop.stop(timeout)
            if first:
                # Events the handlers dispatched come from handled (acknowledged) messages.
                for pipeline in self._pipelines():
                    await pipeline.shutdown(max(loop.remaining(), SETTLE_GRACE))
                await self.disconnect()
        finally:
            if first:
                self._loop = None
                loop.stopped.set()

    async def wait(self) -> None:
        """Wait until this consumer stops receiving (:meth:`stop` was called, or its
        loop failed: the error is logged)."""
        loop = self._loop
        if loop is not None and loop.serving is not None:
            await asyncio.wait({loop.serving})

    async def run(self) -> None:
        """Consume until SIGTERM or SIGINT (a second one shortens the shutdown), then stop
        gracefully: what ``python -m fastapi_events.consume`` runs."""
        await serve([self])

    def _pipelines(self) -> list[EventPipeline]:
        return [self.pipeline, *([self.dead_letter] if self.dead_letter else [])]

    def __repr__(self) -> str:
        return f"<{self.describe()}>"
