"""Forward events to an AWS SQS queue (extra ``aws``).

Importing this module does not import boto3; constructing the handler does, and the
client is created on the first event (never in ``__init__``: Litestar builds middleware,
and so may touch handlers, once per route).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._event import Event
from ..errors import SQSDeliveryError
from ..serialization import MessageFormat, SerializationError, Serializer
from ._batching import RetryPolicy
from ._outgoing import Failure, OutgoingMessage, SendResult
from ._sqs_entries import EntryBuilder, SQSEntry, check_queue, unique_id
from ._sqs_limits import (
    DEFAULT_MAX_BYTES,
    MAX_ENTRIES,
    ByteLimit,
    check_limits,
    halves,
    is_splittable,
    transport_error,
)
from .forwarder import Forwarder

__all__ = [
    "AWS_INSTALL_HINT",
    "DEFAULT_MAX_BYTES",
    "MessageGroupId",
    "QueueUrl",
    "RetryPolicy",
    "SQSDeliveryError",
    "SQSForwardHandler",
]

AWS_INSTALL_HINT = (
    "Package 'boto3' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[aws]'`"
)
#: SendMessageBatch calls one handler runs at the same time.
_MAX_IN_FLIGHT = 2

#: A FIFO message group: a constant, or a function of the event.
MessageGroupId = str | Callable[[Event], str]
MessageAttributes = Mapping[str, str] | Callable[[Event], Mapping[str, str]]
#: A queue URL, or a function of the event giving one (routing by event).
QueueUrl = str | Callable[[Event], str]


class SQSForwardHandler(Forwarder):
    """Send events to an SQS queue with SendMessageBatch, never blocking the event loop.

    Each event becomes one message: the body is ``serializer`` applied to the event
    (default: the JSON array ``["name", payload]``; a
    :class:`~fastapi_events.serialization.MessageFormat` such as CloudEvents works too),
    and the metadata (name, id, content type, trace context) goes in message attributes.
    Messages are batched by 10 and by ``max_bytes``; entries that fail transiently are
    retried with backoff; a batch SQS rejects whole for its contents is sent again in
    halves; anything that cannot be sent is reported for its event only.

    Args:
        queue_url: the queue's URL, or ``event -> URL`` to route each event to its queue
            (events are grouped per queue, in order); a ``.fifo`` URL needs
            ``message_group_id``.
        region_name: the AWS region of the queue.
        serializer: ``(name, payload) -> str | bytes`` (0.12's), or a message format.
        id_generator: ``() -> str`` for batch entry ids (default: the event id).
        max_batch_size: messages per SendMessageBatch, 1 to 10.
        max_bytes: limit per message and per batch, body plus attributes (default 1 MiB),
            capped by the queue's ``MaximumMessageSize``, read when the client is created.
        message_group_id: FIFO group, a constant or ``event -> str``; the deduplication id
            is the event id.
        attributes: extra string attributes, constant or ``event -> mapping``.
        retry: a :class:`RetryPolicy` for throttling, 5xx, transport errors and ``Failed``
            entries with ``SenderFault: false``.
        **boto_client_kwargs: for ``boto3.client("sqs", ...)``, e.g. ``endpoint_url``.

    Raises:
        ImportError: boto3 is not installed.
        ConfigurationError: an argument is out of range or inconsistent.

    Example::

        handler = SQSForwardHandler(queue_url=url, region_name="eu-west-1")
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    .. versionchanged:: 1.0
       Batches are split by size, failures retried and reported; keyword-only options;
       ``max_bytes`` is capped by the queue's ``MaximumMessageSize``; ``queue_url`` may
       be a function of the event; built on the public
       :class:`~fastapi_events.handlers.forwarder.Forwarder`.
    """

    messaging_system = "aws_sqs"
    client_per_loop = False  # boto3 clients are thread-safe
    log = logging.getLogger(__name__)

    def __init__(
        self,
        queue_url: QueueUrl,
        region_name: str,
        serializer: Serializer | MessageFormat | None = None,
        id_generator: Callable[[], str] | None = None,
        max_batch_size: int = MAX_ENTRIES,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        message_group_id: MessageGroupId | None = None,
        attributes: MessageAttributes | None = None,
        retry: RetryPolicy | None = None,
        **boto_client_kwargs: Any,
    ) -> None:
        self._boto3 = _import_boto3()
        check_limits(max_batch_size, max_bytes)
        self.is_fifo = isinstance(queue_url, str) and queue_url.endswith(".fifo")
        check_queue(queue_url, self.is_fifo, message_group_id)
        super().__init__(
            queue_url,
            serializer=serializer,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_bytes,
            retry=retry,
        )
        self.queue_url = queue_url
        self.region_name = region_name
        self.id_generator = id_generator
        self.max_bytes = max_bytes
        self._limit = ByteLimit(max_bytes)
        self.message_group_id = message_group_id
        self.attributes = attributes
        self.boto_client_kwargs = boto_client_kwargs
        self._builder = EntryBuilder(serializer, id_generator, message_group_id, attributes)
        # Sends run in worker threads; botocore's CPU work there competes with the event
        # loop for the GIL, so a few at a time keep the loop's stalls short (benchmarks/).
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)

    # --- the forwarder's hooks --------------------------------------------------------------

    async def connect(self) -> Any:
        """Create the boto3 client in a worker thread, and read the queue's size limit."""
        return await asyncio.to_thread(self._new_client)

    def _new_client(self) -> Any:
        # A session per client: boto3 sessions are not thread-safe; clients are.
        session = self._boto3.session.Session()
        client = session.client("sqs", region_name=self.region_name, **self.boto_client_kwargs)
        if isinstance(self.queue_url, str):
            self._limit.refresh(client, self.queue_url)
            self.max_batch_bytes = self._limit.current
        return client

    async def disconnect(self, client: Any) -> None:
        """Close the client's connections."""
        client.close()

    async def ping(self, client: Any) -> None:
        """Read the queue's ARN (any queue's, for a routed handler)."""
        if isinstance(self.queue_url, str):
            attributes = {"QueueUrl": self.queue_url, "AttributeNames": ["QueueArn"]}
            await self._call(client.get_queue_attributes, **attributes)
        else:
            await self._call(client.list_queues, MaxResults=1)

    def encode(self, event: Event) -> SQSEntry:
        """Build the event's entry; one over the byte limit fails alone."""
        entry = self._builder.build(event)
        oversize: SerializationError | None = self._limit.oversize(entry.entry_size)
        if oversize is not None:
            raise oversize
        return entry

    def message_size(self, message: OutgoingMessage) -> int:
        """The entry's size as SQS counts it."""
        return message.entry_size if isinstance(message, SQSEntry) else message.size

    def is_transient(self, exc: Exception) -> bool:
        """Throttling, 5xx and transport errors (see ``transport_error``)."""
        return isinstance(exc, SQSDeliveryError) and not exc.sender_fault

    async def send(
        self, client: Any, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult:
        """One SendMessageBatch; ``Failed`` entries without ``SenderFault`` are retryable."""
        fifo = destination.endswith(".fifo")
        failed: list[Failure] = []
        by_id: dict[str, OutgoingMessage] = {}
        requests = []
        for message in batch:
            assert isinstance(message, SQSEntry)
            entry_id = unique_id(message.entry_id, by_id)
            try:
                requests.append(self._builder.request(message, entry_id, fifo))
            except Exception as exc:
                failed.append(Failure(message, exc))
                continue
            by_id[entry_id] = message
        if requests:
            response = await self._send_batch(client, destination, requests)
            failed.extend(_failures(response.get("Failed", []), by_id))
        return SendResult(failed)

    async def _send_batch(self, client: Any, queue_url: str, requests: list[Any]) -> Any:
        try:
            return await self._call(client.send_message_batch, QueueUrl=queue_url, Entries=requests)
        except Exception as exc:
            raise transport_error(exc) from exc

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        async with self._in_flight:
            return await asyncio.to_thread(method, **kwargs)

    # --- what SQS does differently ----------------------------------------------------------

    async def _forward(self, routes: dict[str, list[Event]]) -> None:
        # The queue's own size limit is read when the client is created: before batching.
        with contextlib.suppress(Exception):  # retried (and reported) per batch
            await self.get_client()
        await super()._forward(routes)

    async def _reject(
        self, destination: str, batch: Sequence[OutgoingMessage], exc: Exception
    ) -> None:
        """A batch SQS rejects whole for its contents is sent again in halves until only
        the entries at fault remain, one by one (a batch of n takes at most 2n - 1 parts)."""
        if len(batch) > 1 and isinstance(exc, SQSDeliveryError) and is_splittable(exc.code):
            for half in halves(list(batch)):
                await self._deliver(destination, half)
            return
        await super()._reject(destination, batch, exc)


def _failures(failed: list[dict[str, Any]], by_id: Mapping[str, OutgoingMessage]) -> list[Failure]:
    failures = []
    for failure in failed:
        error = SQSDeliveryError(
            f"SQS refused the message: {failure.get('Code')}: {failure.get('Message', '')}",
            code=str(failure.get("Code", "")),
            sender_fault=bool(failure.get("SenderFault")),
        )
        failures.append(Failure(by_id[failure["Id"]], error, retryable=not error.sender_fault))
    return failures


def _import_boto3() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(AWS_INSTALL_HINT) from exc
    return boto3
