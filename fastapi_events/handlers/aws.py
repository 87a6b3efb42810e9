"""Forward events to an AWS SQS queue (extra ``aws``).

Importing this module does not import boto3; constructing the handler does, and the
client is created on the first event (never in ``__init__``: Litestar builds middleware,
and so may touch handlers, once per route).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._batching import RetryPolicy, split_batches
from .._event import Event
from .._redact import capped_text
from .._reporting import report_failure
from ..errors import SQSDeliveryError
from ..serialization import MessageFormat, Serializer
from ._forwarder import Forwarder
from ._sqs_entries import EntryBuilder, SQSEntry, check_queue, unique_ids
from ._sqs_limits import (
    DEFAULT_MAX_BYTES,
    MAX_ENTRIES,
    ByteLimit,
    check_limits,
    halves,
    is_splittable,
    transport_error,
)

__all__ = [
    "AWS_INSTALL_HINT",
    "DEFAULT_MAX_BYTES",
    "MessageGroupId",
    "RetryPolicy",
    "SQSDeliveryError",
    "SQSForwardHandler",
]

logger = logging.getLogger(__name__)

AWS_INSTALL_HINT = (
    "Package 'boto3' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[aws]'`"
)
#: SendMessageBatch calls one handler runs at the same time.
_MAX_IN_FLIGHT = 2

#: A FIFO message group: a constant, or a function of the event.
MessageGroupId = str | Callable[[Event], str]
MessageAttributes = Mapping[str, str] | Callable[[Event], Mapping[str, str]]


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
        queue_url: the queue's URL; a ``.fifo`` URL needs ``message_group_id``.
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
       ``max_bytes`` is capped by the queue's ``MaximumMessageSize``.
    """

    messaging_system = "aws_sqs"

    def __init__(
        self,
        queue_url: str,
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
        super().__init__()
        self._boto3 = _import_boto3()
        check_limits(max_batch_size, max_bytes)
        self.is_fifo = isinstance(queue_url, str) and queue_url.endswith(".fifo")
        check_queue(queue_url, self.is_fifo, message_group_id)
        self.queue_url = queue_url
        self.region_name = region_name
        self.serializer = serializer
        self.id_generator = id_generator
        self.max_batch_size = max_batch_size
        self.max_bytes = max_bytes
        self._limit = ByteLimit(max_bytes)
        self.message_group_id = message_group_id
        self.attributes = attributes
        self.retry = retry or RetryPolicy()
        self.boto_client_kwargs = boto_client_kwargs
        self._builder = EntryBuilder(
            serializer, id_generator, self.is_fifo, message_group_id, attributes
        )
        # Sends run in worker threads; botocore's CPU work there competes with the event
        # loop for the GIL, so a few at a time keep the loop's stalls short (benchmarks/).
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)
        # report_failure's %-message takes (handler, event name, event id).
        url = capped_text(queue_url).replace("%", "%%")
        self._failure_message = "%s could not send event %s (id %s) to " + url

    @property
    def destination(self) -> str:
        """Where the events go."""
        return self.queue_url

    async def _forward(self, events: Sequence[Event]) -> None:
        client = await self._get_client()
        # Entries are built lazily, batch by batch, between the sends.
        entries = (entry for event in events if (entry := self._entry(event)) is not None)
        limit = self._limit.current
        for batch in split_batches(entries, _size_of, self.max_batch_size, limit):
            await self._send(client, batch)

    def _new_client(self) -> Any:
        # A session per client: boto3 sessions are not thread-safe; clients are.
        session = self._boto3.session.Session()
        client = session.client("sqs", region_name=self.region_name, **self.boto_client_kwargs)
        self._limit.refresh(client, self.queue_url)
        return client

    # --- building entries -----------------------------------------------------------------

    def _entry(self, event: Event) -> SQSEntry | None:
        try:
            entry = self._builder.build(event)
        except Exception as exc:
            self._report(event, exc)
            return None
        oversize = self._limit.oversize(entry.size)
        if oversize is not None:
            self._report(event, oversize)
            return None
        return entry

    # --- sending ----------------------------------------------------------------------------

    async def _send(self, client: Any, batch: list[SQSEntry]) -> None:
        """Send a batch; a part SQS rejects whole for its contents is sent again in halves
        until only the entries at fault remain, one by one. Each split makes two smaller
        non-empty parts, so a batch of n entries takes at most 2n - 1 parts."""
        parts = [batch]
        while parts:
            rejected = await self._send_part(client, parts.pop())
            if rejected is None:
                continue
            entries, error = rejected
            if len(entries) == 1:
                self._report(entries[0].event, error)
            else:
                parts.extend(reversed(halves(entries)))

    async def _send_part(
        self, client: Any, batch: list[SQSEntry]
    ) -> tuple[list[SQSEntry], SQSDeliveryError] | None:
        """Send with retries, reporting what fails for good; return the entries still
        pending if SQS rejected the whole request for something a smaller batch can avoid."""
        pending = unique_ids(batch)
        last = SQSDeliveryError("not sent", code="", sender_fault=False)
        for attempt in range(self.retry.attempts):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1))
            sent = pending
            try:
                response = await self._outlive_cancellation(
                    self._call(
                        client.send_message_batch,
                        QueueUrl=self.queue_url,
                        Entries=[entry.request for entry in sent.values()],
                    ),
                    functools.partial(self._delivered_late, sent),
                )
            except Exception as exc:
                error = transport_error(exc)
                if error.sender_fault and is_splittable(error.code):
                    return list(pending.values()), error
                if error.sender_fault:
                    self._report_all(pending, error)
                    return None
                last = error
                continue
            self._delivered(pending, response.get("Failed", []))
            pending, last = self._settle(pending, response.get("Failed", []))
            if not pending:
                return None
        self._report_all(pending, last)
        return None

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        async with self._in_flight:
            return await asyncio.to_thread(method, **kwargs)

    def _settle(
        self, pending: dict[str, SQSEntry], failed: list[dict[str, Any]]
    ) -> tuple[dict[str, SQSEntry], SQSDeliveryError]:
        """Report entries failed for good; return those to retry and their last error."""
        retry: dict[str, SQSEntry] = {}
        last = SQSDeliveryError("no error", code="", sender_fault=False)
        for failure in failed:
            entry = pending[failure["Id"]]
            error = SQSDeliveryError(
                f"SQS refused the message: {failure.get('Code')}: {failure.get('Message', '')}",
                code=str(failure.get("Code", "")),
                sender_fault=bool(failure.get("SenderFault")),
            )
            if error.sender_fault:
                self._report(entry.event, error)
            else:
                retry[failure["Id"]], last = entry, error
        return retry, last

    def _delivered_late(self, sent: Mapping[str, SQSEntry], response: Any) -> None:
        self._delivered(sent, response.get("Failed", []))

    def _delivered(self, sent: Mapping[str, SQSEntry], failed: list[dict[str, Any]]) -> None:
        failed_ids = {failure["Id"] for failure in failed}
        self._settled(entry.event for id_, entry in sent.items() if id_ not in failed_ids)

    def _report_all(self, pending: Mapping[str, SQSEntry], error: SQSDeliveryError) -> None:
        for entry in pending.values():
            self._report(entry.event, error)

    def _report(self, event: Event, exc: BaseException) -> None:
        report_failure(event, self, exc, log=logger, message=self._failure_message)
        self._settled((event,))

    async def aclose(self) -> None:
        """Close the client's connections; the next event opens a new client."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _size_of(entry: SQSEntry) -> int:
    return entry.size


def _import_boto3() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(AWS_INSTALL_HINT) from exc
    return boto3
