"""Consume a RabbitMQ queue (extra ``rabbitmq``): what
:class:`~fastapi_events.handlers.rabbitmq.RabbitMQForwardHandler` publishes, into your
handlers.

Importing this module does not import aio-pika; constructing the consumer does.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._redact import capped_repr, capped_text, describe_handler
from ..handlers._amqp_link import AmqpLink, ExchangeSettings, check_options
from ..handlers.rabbitmq import DEFAULT_URL, _import_aio_pika
from ._delivery import Delivery
from ._rabbitmq_topology import (
    Topology,
    check_names,
    delivery_of,
    retry_bucket,
    retry_buckets,
    retry_copy,
)
from .base import Consumer

__all__ = ["RabbitMQConsumer"]

logger = logging.getLogger(__name__)

_POLL = 1.0  # seconds one receive waits for a message
_SETTLE_TIMEOUT = 10.0  # seconds for a batch of acks, nacks or retry publishes


class RabbitMQConsumer(Consumer):
    """Consume a queue (``basic.consume``, manual acknowledgements) and hand each
    message's event to your handlers.

    The broker sends at most ``concurrency`` unacknowledged messages at a time (the
    channel's prefetch). A message is acknowledged once every handler took its event. A
    failed one is retried by RabbitMQ: published again to the retry exchange
    ``<queue>.retry`` (a copy with the same body, headers and properties, a retry counted
    in its ``fastapi_events_retries`` header), to a retry queue that holds it for the
    backoff delay then dead-letters it back to ``<queue>``; once that publish is confirmed,
    the original is acknowledged. Its deliveries are counted from that header (plus a
    quorum queue's ``x-delivery-count``); after failing on its ``max_deliveries``-th, it is
    dead-lettered (the ``dead_letter`` handler, ``on_error``) and acknowledged. At stop,
    messages not handled are given back (``basic.nack`` with requeue, and closing the
    channel returns any other).

    Topology declared at start (``declare=True``), all durable:

    - the exchange ``exchange`` (``exchange_type``; none for ``""``), and the queue
      ``queue`` (with ``queue_arguments``) bound to it with each of ``routing_keys``;
    - the direct exchange ``<queue>.retry``; and, on first use, for each retry delay of
      ``ms`` milliseconds (the backoff rounded up to a power of two, at most
      ``max_backoff``), the queue ``<queue>.retry.<ms>`` bound to it with routing key
      ``"<ms>"``, with ``x-message-ttl: ms``, ``x-dead-letter-exchange: ""`` and
      ``x-dead-letter-routing-key: <queue>``.

    With ``declare=False`` nothing is declared: the queue and the retry exchange must exist
    (checked at start), and retries are published to ``<queue>.retry`` with routing key
    ``"<ms>"`` for each ``ms`` of :attr:`retry_delays`; route them as above.

    Args:
        queue: the queue to consume.
        handlers: the handler objects each event goes to.
        url: the AMQP URL; credentials in it never appear in logs.
        exchange: the exchange the forwarder publishes to, the queue is bound to it
            (``""``: none, the forwarder publishes to the queue by name).
        exchange_type: the exchange's type, when it is declared.
        routing_keys: the bindings of the queue to ``exchange`` (``"order.*"``...).
        declare: declare the topology above; ``False``: declare nothing.
        queue_arguments: ``x-`` arguments of the queue (``{"x-queue-type": "quorum"}``).
        connect_timeout: seconds to connect and declare.
        connection: an aio-pika connection to use instead of one from ``url`` (its own
            channel is opened on it; the connection is never closed here).
        connect_kwargs: more arguments for ``aio_pika.connect``.
        **options: the options of :class:`~fastapi_events.consumers.Consumer`.

    Raises:
        ImportError: aio-pika is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        consumer = RabbitMQConsumer("billing", routing_keys=["order.*"], handlers=[local_handler])
        app = FastAPI(lifespan=consumer.lifespan)

    .. versionadded:: 1.0
    """

    messaging_system = "rabbitmq"
    wait_for_open_receive = False  # unreceived messages go back when the channel closes

    def __init__(
        self,
        queue: str,
        *,
        handlers: Iterable[object],
        url: str = DEFAULT_URL,
        exchange: str = "events",
        exchange_type: str = "topic",
        routing_keys: Sequence[str] = ("#",),
        declare: bool = True,
        queue_arguments: Mapping[str, Any] | None = None,
        connect_timeout: float = 5.0,
        connection: Any = None,
        connect_kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._aio_pika = _import_aio_pika()
        check_names(queue, routing_keys, queue_arguments)
        check_options(
            self._aio_pika,
            url=url,
            exchange=exchange,
            exchange_type=exchange_type,
            seconds={"connect_timeout": connect_timeout},
        )
        super().__init__(handlers=handlers, **options)
        self.queue = queue
        self.topology = Topology(
            queue, exchange, exchange_type, tuple(routing_keys), declare, queue_arguments or {}
        )
        #: Every retry delay (ms) this consumer may use: a retry queue each.
        self.retry_delays = retry_buckets(self.backoff)
        retries = ExchangeSettings(self.topology.retry_exchange, "direct", True, not declare)
        self._link = AmqpLink(
            self._aio_pika,
            url,  # may hold a password: kept out of repr and logs
            retries,
            connect_timeout=connect_timeout,
            connection=connection,
            connect_kwargs=dict(connect_kwargs or {}),
        )
        self._buffer: deque[Any] = deque()
        self._arrival: asyncio.Future[None] | None = None  # done when a message arrives
        self._consuming: Any = None  # the channel consumed on

    def describe(self) -> str:
        """The class and the queue."""
        return f"{describe_handler(self)}({capped_text(self.queue, 160)})"

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, declare (or check) the topology and start consuming."""
        try:
            await self._subscribe()
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Close the channel (RabbitMQ requeues what was not acknowledged) and the
        connection (not one passed in)."""
        self._buffer.clear()
        self._consuming = None
        await self._link.close()

    def ready(self, max_messages: int) -> list[Delivery]:
        """Messages RabbitMQ pushed that are not taken yet (up to ``max_messages``)."""
        buffer, taken = self._buffer, list[Delivery]()
        if self._consuming is not None and self._consuming.is_closed:
            return taken  # receive() subscribes again first
        while buffer and len(taken) < max_messages:
            taken.append(delivery_of(buffer.popleft(), self.queue))
        return taken

    async def receive(self, max_messages: int) -> list[Delivery]:
        """Messages pushed by RabbitMQ, waiting a while for the first one."""
        await self._subscribe()
        if not self._buffer:
            await self._wait_for_arrival()
        return self.ready(max_messages)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """``basic.ack`` each message."""
        await self._settle(deliveries, "basic_ack")

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """Publish each message to its retry queue, then acknowledge it; one whose
        publish failed is given back at once instead (``basic.nack``, requeue)."""
        # One whose channel closed was given back by RabbitMQ already: no copy as well.
        retries = [(delivery, delay) for delivery, delay in retries if _open(delivery)]
        exchange = await self._link.exchange()
        channel = self._link.channel
        cap = self.backoff.cap
        publishes = []
        for delivery, delay in retries:
            bucket = retry_bucket(delay, cap)
            await self.topology.ensure_retry_queue(channel, bucket)
            copy = retry_copy(self._aio_pika, delivery)
            publishes.append(asyncio.ensure_future(exchange.publish(copy, str(bucket))))
        errors = await self._link.confirm(publishes, _SETTLE_TIMEOUT)
        sent = [delivery for (delivery, _), error in zip(retries, errors, strict=True) if not error]
        await self._settle(sent, "basic_ack")
        failed = [delivery for (delivery, _), error in zip(retries, errors, strict=True) if error]
        if failed:
            first = next(error for error in errors if error is not None)
            logger.error(
                "%s: could not publish %d retry(ies) to %s (%s); given back at once",
                self.describe(),
                len(failed),
                capped_repr(self.topology.retry_exchange, 160),
                type(first).__name__,
            )
            await self.release(failed)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """``basic.nack`` each message with requeue: delivered again at once."""
        await self._settle(deliveries, "basic_nack", requeue=True)

    # --- helpers -------------------------------------------------------------------------

    async def _subscribe(self) -> None:
        """(Re)connect if needed; on a new channel, prefetch and consume again."""
        await self._link.exchange()
        channel = self._link.channel
        if channel is self._consuming:
            return
        self._buffer.clear()  # from a closed channel: RabbitMQ requeued them
        self.topology.forget()
        await channel.set_qos(prefetch_count=self.concurrency)
        queue = await self.topology.prepare(channel)
        await queue.consume(self._on_message, no_ack=False)
        self._consuming = channel

    async def _on_message(self, message: Any) -> None:
        self._buffer.append(message)
        arrival = self._arrival
        if arrival is not None and not arrival.done():
            arrival.set_result(None)

    async def _wait_for_arrival(self) -> None:
        """Wait up to a poll for a message (or the connection's loss); then let the other
        messages of the same read arrive too, to be received together."""
        arrival = self._arrival = asyncio.get_running_loop().create_future()
        lost = self._link.lost
        waiting: set[asyncio.Future[Any]] = {arrival} if lost is None else {arrival, lost}
        try:
            await asyncio.wait(waiting, timeout=_POLL, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._arrival = None
        await asyncio.sleep(0)

    async def _settle(self, deliveries: Sequence[Delivery], method: str, **options: Any) -> None:
        """Send ``method`` (``basic_ack``, ``basic_nack``) for each delivery, on its own
        channel, without waiting for each frame to be written; bounded in time."""
        if not deliveries:
            return
        # aiormq may wait forever to queue a frame for a connection lost meanwhile: bounded
        # by cancelling this (the settling) task; its messages are delivered again.
        timer = asyncio.get_running_loop().call_later(
            _SETTLE_TIMEOUT, _cancel, asyncio.current_task()
        )
        try:
            await self._send_each(deliveries, method, options)
        finally:
            timer.cancel()

    async def _send_each(
        self, deliveries: Sequence[Delivery], method: str, options: dict[str, Any]
    ) -> None:
        closed = 0
        for delivery in deliveries:
            message = delivery.receipt
            try:
                channel = message.channel  # raises once the channel is closed
                await getattr(channel, method)(message.delivery_tag, wait=False, **options)
            except self._aio_pika.exceptions.ChannelInvalidStateError:
                closed += 1
        if closed:
            logger.warning(
                "%s: %d message(s) arrived on a channel closed since; RabbitMQ delivers them again",
                self.describe(),
                closed,
            )


def _open(delivery: Delivery) -> bool:
    try:
        delivery.receipt.channel  # noqa: B018 (aio-pika raises once the channel closed)
    except RuntimeError:  # aiormq's ChannelInvalidStateError
        return False
    return True


def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()
