"""Forward events to Apache Kafka (extra ``kafka``), on aiokafka's producer.

Importing this module does not import aiokafka; constructing the handler does, and the
producer starts at application startup or at the first event.

Each event becomes one record:

- value: the message body, 0.12's JSON array ``["name", payload]`` by default;
- key: the event's correlation id, else one key per request (see
  :class:`KafkaForwardHandler`), so a request's events stay in order on one partition;
- timestamp: when the event was dispatched;
- headers: one per message attribute, ``event_name``, ``event_id``, ``content_type``,
  ``correlation_id``, ``traceparent``, ``tracestate`` (see
  :mod:`fastapi_events.serialization`), and ``content-type``; with CloudEvents, the
  headers of the CloudEvents Kafka protocol binding: ``ce_id``, ``ce_type``,
  ``ce_source``... in binary mode, ``content-type: application/cloudevents+json`` in
  structured mode.

A consumer turns a record (aiokafka's ``ConsumerRecord``) back into the event with
:func:`fastapi_events.serialization.decode`.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from .._event import Event
from .._received import kafka_headers
from .._redact import capped_repr
from ..errors import ConfigurationError
from ..serialization import MessageFormat, Serializer
from ._batching import RetryPolicy
from ._kafka_config import check_record_options, producer_config
from ._outgoing import Failure, OutgoingMessage, SendResult
from .forwarder import Forwarder

__all__ = [
    "KAFKA_INSTALL_HINT",
    "ExtraHeaders",
    "KafkaForwardHandler",
    "MessageKey",
    "TopicName",
]

KAFKA_INSTALL_HINT = (
    "Package 'aiokafka' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[kafka]'`"
)
#: A topic name, or a function of the event giving one.
TopicName = str | Callable[[Event], str]
#: A record key: a constant, or a function of the event (``None``: no key).
MessageKey = str | bytes | Callable[[Event], str | bytes | None]
#: Extra headers: a constant mapping, or a function of the event giving one.
ExtraHeaders = Mapping[str, str | bytes] | Callable[[Event], Mapping[str, str | bytes]]


def _import_aiokafka() -> ModuleType:
    try:
        import aiokafka  # type: ignore[import-untyped]
        import aiokafka.errors  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(KAFKA_INSTALL_HINT) from exc
    module: ModuleType = aiokafka
    return module


class KafkaForwardHandler(Forwarder):
    """Produce every event as a Kafka record, with an idempotent, ``acks=all`` producer.

    A batch's records are handed to the producer together and their acknowledgements
    awaited; the producer groups them per partition (waiting up to ``linger_ms`` for more).
    The idempotent producer keeps each partition in order through its own retries. Errors
    Kafka calls retriable (connection, leader change, timeout...) are retried with backoff
    (a record whose answer was lost may be written twice: consumers de-duplicate by the
    ``event_id`` header); a record refused for good (too large, not authorised) is
    reported for its event only.

    **Keys.** By default the key is the event's correlation id (the request's
    ``X-Request-ID``, see the middleware), so every event of a request, and the events its
    handlers chain, land on one partition in dispatch order. Without a correlation id the
    key is the id of the first event of the batch being sent: a request's events (one
    batch) still share a partition, and different requests spread over the partitions.
    Pass ``key=`` a string or bytes for one key for all, or ``event -> key`` (``None``:
    no key, the producer picks a partition).

    Args:
        topic: the topic, or ``event -> topic`` to route each event.
        bootstrap_servers: ``host:port`` or a list of them.
        key: the record key (default: correlation id, else one per request's batch).
        headers: extra headers, constant or ``event -> mapping`` (the metadata headers win
            on a clash).
        idempotent: the producer's ``enable_idempotence`` (needs ``acks="all"``, the
            default). Brokers that refuse aiokafka's idempotent producer (InitProducerId
            v0) need ``False``.
        linger_ms: how long the producer waits to fill a partition's batch.
        request_timeout_ms: the producer's timeout for metadata and each produce request;
            a dead broker is reported after about this long per attempt, never waited on
            forever.
        client_id: the producer's client id (broker logs and quotas).
        serializer: ``(name, payload) -> str | bytes``, or a message format such as
            :class:`~fastapi_events.serialization.CloudEventsFormat`.
        max_batch_size: records per send (their acknowledgements awaited together).
        max_batch_bytes: bytes per send (``None``: no limit; the producer's own
            ``max_request_size`` refuses a larger record).
        retry: backoff for retriable errors.
        producer: a started ``aiokafka.AIOKafkaProducer`` to use instead of one of the
            handler's own; the handler then does not stop it.
        producer_options: more ``AIOKafkaProducer`` keywords (``compression_type``,
            ``max_request_size``, ``security_protocol``, ``sasl_*``...), overriding the
            above; never logged.

    Raises:
        ImportError: aiokafka is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        handler = KafkaForwardHandler("events", bootstrap_servers="127.0.0.1:9092")
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    .. versionadded:: 1.0
    """

    messaging_system = "kafka"
    log = logging.getLogger(__name__)

    def __init__(
        self,
        topic: TopicName,
        *,
        bootstrap_servers: str | Sequence[str] = "127.0.0.1:9092",
        key: MessageKey | None = None,
        headers: ExtraHeaders | None = None,
        idempotent: bool = True,
        linger_ms: int = 5,
        request_timeout_ms: int = 10_000,
        client_id: str = "fastapi-events",
        serializer: Serializer | MessageFormat | None = None,
        max_batch_size: int = 500,
        max_batch_bytes: int | None = None,
        retry: RetryPolicy | None = None,
        producer: Any = None,
        producer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._aiokafka = _import_aiokafka()
        super().__init__(
            topic,
            serializer=serializer,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_batch_bytes,
            retry=retry,
        )
        check_record_options(key, headers)
        self._config = producer_config(
            bootstrap_servers,
            client_id,
            idempotent,
            linger_ms,
            request_timeout_ms,
            producer_options,
        )
        self.topic = topic
        self.key = key
        self.headers = headers
        self._given_producer = producer
        # The default key of each event handle_many() is sending, by the event's identity.
        self._batch_keys: dict[int, bytes] = {}

    @property
    def producer_config(self) -> dict[str, Any]:
        """The keywords the handler's ``AIOKafkaProducer`` is built with (a copy; it holds
        the credentials you passed in ``producer_options``, never logged)."""
        return dict(self._config)

    async def connect(self) -> Any:
        """Start a producer (its bootstrap fetches the cluster's metadata)."""
        if self._given_producer is not None:
            return self._given_producer
        producer = self._aiokafka.AIOKafkaProducer(**self._config)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def disconnect(self, client: Any) -> None:
        """Flush and stop the producer (not one passed in)."""
        if client is not self._given_producer:
            await client.stop()

    async def ping(self, client: Any) -> None:
        """Fetch the cluster's metadata from a broker."""
        await client.client.fetch_all_metadata()

    def is_transient(self, exc: Exception) -> bool:
        """Errors Kafka calls retriable, client timeouts, and the OS's connection errors."""
        errors = self._aiokafka.errors
        if isinstance(exc, errors.KafkaError):
            return bool(exc.retriable) or isinstance(exc, errors.KafkaTimeoutError)
        return super().is_transient(exc)

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Send one request's events (see the keys in the class docstring)."""
        if not events:
            return
        key, keys = events[0].id.encode(), self._batch_keys
        for event in events:
            keys[id(event)] = key
        try:
            await super().handle_many(events)
        finally:
            for event in events:
                keys.pop(id(event), None)

    def record_key(self, event: Event) -> bytes | None:
        """The key of ``event``'s record (``None``: none).

        Raises:
            ConfigurationError: a key function gave something else than str, bytes or None.
        """
        if self.key is None:
            correlation = _encoded(event.correlation_id)
            return correlation or self._batch_keys.get(id(event)) or event.id.encode()
        key = self.key(event) if callable(self.key) else self.key
        if key is not None and not isinstance(key, (str, bytes)):
            raise ConfigurationError(
                f"the key function must give str, bytes or None, got {type(key).__name__} "
                f"for event {capped_repr(event.key)}"
            )
        return _encoded(key)

    def record_headers(self, message: OutgoingMessage) -> list[tuple[str, bytes]]:
        """The headers of ``message``'s record: ``headers=``, then its attributes."""
        attributes: Mapping[str, str | bytes] = message.attributes
        if self.headers is not None:
            extra = self.headers(message.event) if callable(self.headers) else self.headers
            attributes = {**extra, **attributes}
        return kafka_headers(attributes)

    def message_size(self, message: OutgoingMessage) -> int:
        """A message's bytes, counted only where ``max_batch_bytes`` limits them."""
        return 0 if self.max_batch_bytes is None else message.size

    async def send(
        self, client: Any, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult:
        """Hand every record to the producer, then await their acknowledgements."""
        failed: list[Failure] = []
        records = []
        for message in batch:  # a key or headers function raising fails its message alone
            try:
                records.append(
                    (message, self.record_key(message.event), self.record_headers(message))
                )
            except Exception as exc:
                failed.append(Failure(message, exc))
        queued: list[tuple[OutgoingMessage, asyncio.Future[Any]]] = []
        for index, (message, key, headers) in enumerate(records):
            try:
                timestamp = int(message.event.unix_time * 1000)
                future = await client.send(
                    destination, message.body, key=key, headers=headers, timestamp_ms=timestamp
                )
            except Exception as exc:
                failed.append(Failure(message, exc, retryable=self.is_transient(exc)))
                if failed[-1].retryable:  # the rest would overtake it: all sent again later
                    failed += [Failure(later[0], exc, True) for later in records[index + 1 :]]
                    break
            else:
                queued.append((message, future))
        return SendResult(failed + await self._acknowledged(queued))

    async def _acknowledged(
        self, queued: list[tuple[OutgoingMessage, asyncio.Future[Any]]]
    ) -> list[Failure]:
        """The records the broker did not acknowledge."""
        outcomes = await asyncio.gather(*(future for _, future in queued), return_exceptions=True)
        failed = []
        for (message, _), outcome in zip(queued, outcomes, strict=True):
            if isinstance(outcome, Exception):
                failed.append(Failure(message, outcome, retryable=self.is_transient(outcome)))
            elif isinstance(outcome, BaseException):  # the producer was stopped meanwhile
                failed.append(Failure(message, outcome, retryable=False))
        return failed


def _encoded(key: str | bytes | None) -> bytes | None:
    if isinstance(key, str):
        return key.encode() if key else None
    return key
