"""Forward events to an AWS SQS queue or SNS topic (extra ``aws``).

Importing this module does not import boto3; constructing a handler does, and the
client is created on the first event (never in ``__init__``: Litestar builds middleware,
and so may touch handlers, once per route). :class:`SNSForwardHandler` lives in
:mod:`fastapi_events.handlers.sns` and is importable from here too.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from .._event import Event
from ..errors import SNSDeliveryError, SQSDeliveryError
from ..serialization import MessageFormat, SerializationError, Serializer
from ._aws_batch import AWS_INSTALL_HINT, AWSBatchForwarder, MessageAttributes, MessageGroupId
from ._aws_entries import SQS
from ._aws_flight import DEFAULT_MAX_IN_FLIGHT
from ._aws_limits import DEFAULT_LINGER, DEFAULT_MAX_BYTES, MAX_ENTRIES, ByteLimit
from ._batching import RetryPolicy
from ._sqs_async import SQSAsyncTransport, build_transport, check_transport
from .sns import SNSForwardHandler

__all__ = [
    "AWS_INSTALL_HINT",
    "DEFAULT_LINGER",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_IN_FLIGHT",
    "MessageGroupId",
    "QueueUrl",
    "RetryPolicy",
    "SNSDeliveryError",
    "SNSForwardHandler",
    "SQSDeliveryError",
    "SQSForwardHandler",
]

#: A queue URL, or a function of the event giving one (routing by event).
QueueUrl = str | Callable[[Event], str]


class SQSForwardHandler(AWSBatchForwarder):
    """Send events to an SQS queue with SendMessageBatch, never blocking the event loop.

    Each event becomes one message: the body is ``serializer`` applied to the event
    (default: the JSON array ``["name", payload]``; a
    :class:`~fastapi_events.serialization.MessageFormat` such as CloudEvents works too),
    and the metadata (name, id, content type, trace context) goes in message attributes.
    Messages are batched by 10 and by ``max_bytes``; entries that fail transiently are
    retried with backoff; a batch SQS rejects whole for its contents is sent again in
    halves; anything that cannot be sent is reported for its event only.

    Up to ``max_in_flight`` batches are on the wire at once, the batches of one drain
    included (one after the other for a FIFO queue, to keep each group's order). By
    default they are sent on the event loop: signed with botocore's SigV4 signer and the
    client's credentials, region and endpoint, over keep-alive connections of their own,
    so a round trip of 20 ms costs no worker thread and little CPU.

    Concurrent drains share batch requests: a drain's messages join the request being
    filled for their queue, sent when it holds 10 entries (or ``max_bytes``) or ``linger``
    seconds after its first message, so requests of 3 events make 0.1 calls per event,
    not 0.33, under load. Each drain still awaits and settles its own events only: a
    message SQS refuses is reported for its event alone; retries are sent without
    sharing. FIFO queues are never shared (each drain's batches go in order, alone).

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
            entries with ``SenderFault: false`` (botocore's own retries apply to
            ``transport="botocore"`` sends only).
        linger: seconds a part-full request waits for other drains' messages, 0 to 1
            (default 0.01: the drain runs after the response, so the client does not
            wait; ``0``: each drain's batches are sent alone).
        max_in_flight: SendMessageBatch calls at once, 1 to 1024; about the round-trip
            time divided by the CPU time per call (the default, 32, suits 20-30 ms).
        transport: ``"auto"`` (asyncio, unless the client is configured with a proxy,
            from its ``Config`` or the environment, or a client certificate),
            ``"asyncio"``, or ``"botocore"`` (boto3's calls in worker threads, for every
            botocore feature; their CPU work competes with the event loop for the GIL).
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

    .. versionadded:: 1.0
       ``max_in_flight``, ``transport`` and ``linger``.
    """

    messaging_system = "aws_sqs"
    service = "sqs"
    wire = SQS
    delivery_error = SQSDeliveryError
    log = logging.getLogger(__name__)
    concurrent_batches = True

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
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        transport: str = "auto",
        linger: float = DEFAULT_LINGER,
        **boto_client_kwargs: Any,
    ) -> None:
        self.transport = check_transport(transport)
        super().__init__(
            queue_url,
            region_name,
            serializer=serializer,
            id_generator=id_generator,
            max_batch_size=max_batch_size,
            max_bytes=max_bytes,
            message_group_id=message_group_id,
            attributes=attributes,
            retry=retry,
            boto_client_kwargs=boto_client_kwargs,
            limit_hint="use 262144 for queues with the older 256 KiB limit",
            max_in_flight=max_in_flight,
            linger=linger,
        )
        self.queue_url = queue_url
        self._limit = ByteLimit(max_bytes)
        self._sender: SQSAsyncTransport | None = None

    # --- the forwarder's hooks --------------------------------------------------------------

    def _new_client(self) -> Any:
        """The client and the transport; reads the queue's size limit too (in the worker
        thread)."""
        session, client = self._session_client()
        if isinstance(self.queue_url, str):
            self._limit.refresh(client, self.queue_url)
            self.max_batch_bytes = self._limit.current
        self._sender = build_transport(
            self.transport, session, client, self.boto_client_kwargs, self.max_in_flight
        )
        return client

    async def disconnect(self, client: Any) -> None:
        """Close the client's and the transport's connections."""
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()
        await super().disconnect(client)

    async def ping(self, client: Any) -> None:
        """Read the queue's ARN (any queue's, for a routed handler)."""
        if isinstance(self.queue_url, str):
            attributes = {"QueueUrl": self.queue_url, "AttributeNames": ["QueueArn"]}
            await self._call(client.get_queue_attributes, **attributes)
        else:
            await self._call(client.list_queues, MaxResults=1)

    def _oversize(self, size: int) -> SerializationError | None:
        return self._limit.oversize(size)

    async def _send_requests(
        self, client: Any, destination: str, requests: list[dict[str, Any]]
    ) -> Any:
        sender = self._sender
        if sender is None:
            return await super()._send_requests(client, destination, requests)
        async with self._in_flight.slot():
            return await sender.send_message_batch(destination, requests)

    def _batch_call(
        self, client: Any, destination: str, requests: list[dict[str, Any]]
    ) -> Callable[[], Any]:
        return functools.partial(client.send_message_batch, QueueUrl=destination, Entries=requests)

    # --- what SQS does differently ----------------------------------------------------------

    async def _forward(self, routes: dict[str, list[Event]]) -> None:
        # The queue's own size limit is read when the client is created: before batching.
        with contextlib.suppress(Exception):  # retried (and reported) per batch
            await self.get_client()
        await super()._forward(routes)
