"""Forward events to a RabbitMQ exchange (extra ``rabbitmq``).

Importing this module does not import aio-pika; constructing the handler does, and the
connection is opened at startup or the first event.

Each event becomes one AMQP message published to the exchange with the event's routing
key, on a channel with publisher confirms: an event counts as delivered once RabbitMQ has
confirmed it (for a persistent message routed to a durable queue: written to disk). Its
properties and headers:

- body: the message body, 0.12's JSON array ``["name", payload]`` by default;
- ``message_id``: the event id (consumers de-duplicate by it); ``timestamp``: the dispatch
  time (AMQP keeps whole seconds); ``content_type``; ``delivery_mode`` 2 (persistent) by
  default; ``correlation_id``: the event's correlation id, when it has one (of at most
  255 bytes: AMQP's limit for that property);
- headers: every message attribute (``event_name``, ``event_id``, ``content_type``,
  ``correlation_id``, ``traceparent``, ``tracestate``, see
  :mod:`fastapi_events.serialization`);
- with binary CloudEvents, by the CloudEvents AMQP binding: each ``ce-`` attribute as a
  ``cloudEvents_`` header (``cloudEvents_id``, ``cloudEvents_type``...), the data's media
  type as the ``content_type`` property.

Messages are published ``mandatory`` by default: RabbitMQ returns a message no queue is
bound for, and its event is reported (:class:`~fastapi_events.errors.RabbitMQDeliveryError`)
instead of being dropped silently. Pass ``mandatory=False`` where an event nobody listens
to may be dropped.

A consumer turns a received message back into the event with
:func:`fastapi_events.serialization.decode`.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .._event import Event
from .._received import amqp_headers
from .._redact import capped_repr, capped_text
from .._reporting import describe_handler
from ..errors import RabbitMQDeliveryError
from ..serialization import MessageFormat, Serializer
from ._amqp_link import AmqpLink, ExchangeSettings, check_options
from ._batching import RetryPolicy
from ._outgoing import Failure, OutgoingMessage, SendResult
from .forwarder import Forwarder

__all__ = [
    "DEFAULT_URL",
    "NACKED",
    "RABBITMQ_INSTALL_HINT",
    "UNROUTABLE",
    "RabbitMQForwardHandler",
    "RoutingKey",
    "event_name",
]

RABBITMQ_INSTALL_HINT = (
    "Package 'aio-pika' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[rabbitmq]'`"
)
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
#: A routing key, or a function of the event giving one.
RoutingKey = str | Callable[[Event], str]
#: The error of a message RabbitMQ returned (``mandatory``, no queue bound).
UNROUTABLE = (
    "RabbitMQ returned the message as unroutable ({code} {text}): no queue is bound to "
    "exchange {exchange} for routing key {key}; bind one, or pass mandatory=False to let "
    "RabbitMQ drop such messages"
)
#: The error of a message RabbitMQ refused (``basic.nack``), after the retries.
NACKED = (
    "RabbitMQ refused the message (basic.nack): a queue it routes to is full "
    "(x-overflow=reject-publish) or could not store it"
)
_AMQP_SHORTSTR = 255  # bytes: the longest routing key, correlation_id, header name


def _import_aio_pika() -> ModuleType:
    try:
        import aio_pika
    except ImportError as exc:
        raise ImportError(RABBITMQ_INSTALL_HINT) from exc
    return aio_pika


def event_name(event: Event) -> str:
    """The event's name as matched (``Event.key``): the default routing key, so a topic
    exchange's bindings (``order.*``) select events by name."""
    return event.key


class RabbitMQForwardHandler(Forwarder):
    """Publish every event to a RabbitMQ exchange with publisher confirms.

    A batch's messages are published back to back on one channel, then their confirms
    awaited together. A message RabbitMQ returns as unroutable is reported for its event
    only, without retries; one it refuses (``basic.nack``, e.g. a full queue with
    ``x-overflow=reject-publish``) is retried with backoff, then reported. A lost
    connection, or a confirm not received within ``publish_timeout``, closes the
    connection; the next attempt opens a new one. A message whose confirm was lost may be
    published twice: consumers de-duplicate by ``message_id`` (the event id).

    Args:
        routing_key: the routing key, or ``event -> key`` (default: the event name).
        url: the AMQP URL (``amqp://``, ``amqps://``); credentials in it never appear in
            logs or health reports.
        exchange: the exchange's name (``""``: the default exchange, where the routing key
            names a queue).
        exchange_type: ``topic``, ``direct``, ``fanout``, ``headers`` (or a plugin's type).
        durable: declare the exchange durable (it survives a broker restart).
        passive: only check that the exchange exists (it was declared by someone else)
            instead of declaring it; a missing exchange fails every send and the health
            check.
        mandatory: have RabbitMQ return unroutable messages, reported per event (see the
            module docstring); ``False``: RabbitMQ drops them and confirms.
        persistent: ``delivery_mode`` 2 (kept on disk in durable queues), else 1.
        serializer: ``(name, payload) -> str | bytes``, or a message format such as
            :class:`~fastapi_events.serialization.CloudEventsFormat`.
        max_batch_size: messages whose confirms are awaited together.
        max_batch_bytes: bytes per batch (``None``: no limit).
        retry: backoff for lost connections, timeouts and nacks.
        publish_timeout: seconds for a message's confirm.
        connect_timeout: seconds to connect and declare the exchange.
        connection: an aio-pika connection to publish on instead of one from ``url``; the
            handler opens its own channel on it and never closes the connection.
        **connect_kwargs: for ``aio_pika.connect`` (``client_properties``, ``ssl_context``).

    Raises:
        ImportError: aio-pika is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        handler = RabbitMQForwardHandler(exchange="shop", url="amqp://guest:guest@127.0.0.1/")
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    .. versionadded:: 1.0
    """

    messaging_system = "rabbitmq"
    log = logging.getLogger(__name__)

    def __init__(
        self,
        routing_key: RoutingKey = event_name,
        *,
        url: str = DEFAULT_URL,
        exchange: str = "events",
        exchange_type: str = "topic",
        durable: bool = True,
        passive: bool = False,
        mandatory: bool = True,
        persistent: bool = True,
        serializer: Serializer | MessageFormat | None = None,
        max_batch_size: int = 100,
        max_batch_bytes: int | None = None,
        retry: RetryPolicy | None = None,
        publish_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        connection: Any = None,
        **connect_kwargs: Any,
    ) -> None:
        self._aio_pika = _import_aio_pika()
        super().__init__(
            routing_key,
            serializer=serializer,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_batch_bytes,
            retry=retry,
        )
        check_options(
            self._aio_pika,
            url=url,
            exchange=exchange,
            exchange_type=exchange_type,
            seconds={"publish_timeout": publish_timeout, "connect_timeout": connect_timeout},
        )
        self.routing_key = routing_key
        self.exchange = ExchangeSettings(exchange, exchange_type, durable, passive)
        self.mandatory = mandatory
        self.delivery_mode = 2 if persistent else 1
        self.publish_timeout = publish_timeout
        self.connect_timeout = connect_timeout
        self._url = url  # may hold a password: kept out of repr, logs and health
        self._given_connection = connection
        self._connect_kwargs = connect_kwargs

    async def connect(self) -> AmqpLink:
        """Connect, open a confirming channel and declare (or check) the exchange."""
        link = AmqpLink(
            self._aio_pika,
            self._url,
            self.exchange,
            connect_timeout=self.connect_timeout,
            connection=self._given_connection,
            connect_kwargs=self._connect_kwargs,
        )
        try:
            await link.exchange()
        except BaseException:
            await link.close()
            raise
        return link

    async def disconnect(self, client: AmqpLink) -> None:
        """Close the channel, and the connection unless it was passed in."""
        await client.close()

    async def ping(self, client: AmqpLink) -> None:
        """Reconnect if needed; open a channel and check the exchange exists."""
        await client.ping()

    def is_transient(self, exc: Exception) -> bool:
        """Lost connections and channels, and timeouts (not a refused login)."""
        errors = self._aio_pika.exceptions
        if isinstance(exc, (errors.AuthenticationError, errors.ProbableAuthenticationError)):
            return False
        return isinstance(exc, errors.ChannelInvalidStateError) or super().is_transient(exc)

    def describe(self) -> str:
        """The class, the exchange and the routing key (``(routed)`` for a function)."""
        key = self.routing_key if isinstance(self.routing_key, str) else "(routed)"
        where = f"{self.exchange.name or '(default exchange)'}, {key}"
        return f"{describe_handler(self)}({capped_text(where, 120)})"

    async def send(
        self, client: AmqpLink, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult:
        """Publish every message, then await their confirms; each failure is its own."""
        exchange = await client.exchange()
        publishes = [
            asyncio.ensure_future(self._publish(exchange, destination, message))
            for message in batch
        ]
        errors = await client.confirm(publishes, self.publish_timeout)
        failed = [
            self._failure(client, message, error, destination)
            for message, error in zip(batch, errors, strict=True)
            if error is not None
        ]
        return SendResult(failed)

    async def _publish(self, exchange: Any, routing_key: str, message: OutgoingMessage) -> None:
        await exchange.publish(
            self._message(message),
            routing_key,
            mandatory=self.mandatory,
            timeout=self.publish_timeout,
        )

    def _message(self, message: OutgoingMessage) -> Any:
        headers, content_type = amqp_headers(message.attributes)
        event = message.event
        correlation_id = event.correlation_id
        if correlation_id and len(correlation_id.encode()) > _AMQP_SHORTSTR:
            correlation_id = None  # too long for the property: the header still has it
        return self._aio_pika.Message(
            message.body,
            headers=headers,
            content_type=content_type,
            message_id=event.id,
            timestamp=event.timestamp,
            correlation_id=correlation_id or None,
            delivery_mode=self.delivery_mode,
        )

    def _failure(
        self, client: AmqpLink, message: OutgoingMessage, exc: BaseException, routing_key: str
    ) -> Failure:
        errors = self._aio_pika.exceptions
        if isinstance(exc, errors.PublishError):
            return Failure(message, self._unroutable(exc, routing_key))
        if isinstance(exc, errors.DeliveryError):
            return Failure(message, RabbitMQDeliveryError(NACKED, reason="nacked"), True)
        # Cancelled under us (not by our caller: gather returned): the channel went away.
        transient = not isinstance(exc, Exception) or self.is_transient(exc)
        if transient:
            client.reset()
        return Failure(message, exc, retryable=transient)

    def _unroutable(self, exc: Any, routing_key: str) -> RabbitMQDeliveryError:
        frame = getattr(exc, "frame", None)
        code = getattr(frame, "reply_code", None)
        text = UNROUTABLE.format(
            code=code,
            text=capped_text(str(getattr(frame, "reply_text", "")), 60),
            exchange=capped_repr(self.exchange.name, 120),
            key=capped_repr(routing_key, 120),
        )
        return RabbitMQDeliveryError(text, reason="unroutable", reply_code=code)
