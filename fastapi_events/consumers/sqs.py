"""Consume an AWS SQS queue (extra ``aws``): what
:class:`~fastapi_events.handlers.aws.SQSForwardHandler` (or an SNS topic subscribed to the
queue) sends, into your handlers.

Importing this module does not import boto3; constructing the consumer does.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .._redact import capped_repr, capped_text, describe_handler
from ..errors import ConfigurationError
from ..handlers._aws_batch import import_boto3
from ._delivery import Delivery
from ._thread_poll import ThreadPoll
from .base import Consumer

__all__ = ["MAX_VISIBILITY_TIMEOUT", "SHORT_POLL_PAUSE", "SQSConsumer"]

logger = logging.getLogger(__name__)

#: SQS's largest visibility timeout (12 hours): the longest retry delay it can express.
MAX_VISIBILITY_TIMEOUT = 43_200
#: Seconds between two empty receives when ``wait_time_seconds=0`` (short polling).
SHORT_POLL_PAUSE = 0.1
_MAX_ENTRIES = 10  # per ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch
_SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]


class SQSConsumer(Consumer):
    """Receive events from an SQS queue with long polling and hand them to your handlers.

    Receives with ``ReceiveMessage`` (up to 10 at a time, no more than there is room for
    under ``concurrency``; message attributes and ``ApproximateReceiveCount``), in a
    worker thread so the event loop never blocks. Messages whose handlers all succeeded
    are deleted with ``DeleteMessageBatch`` (only those: a failure in a batch deletes
    nothing else); a failed one is retried by SQS itself: its visibility timeout is set to
    the backoff delay, so the queue delivers it again then. A message that failed on its
    ``max_deliveries``-th receive is dead-lettered, then deleted. Reads every body the
    forwarders write, and SNS notifications from a subscription without raw delivery.

    Handling must finish within the queue's visibility timeout (or ``visibility_timeout``):
    after it, SQS delivers the message again while it is still being handled. To let SQS
    dead-letter with its own redrive policy instead, pass ``max_deliveries=None``.

    Args:
        queue_url: the queue's URL.
        handlers: the handler objects each event goes to.
        region_name: the queue's AWS region.
        endpoint_url: another SQS endpoint (a local emulator).
        wait_time_seconds: the long poll's wait, 0 to 20 (0: short polling, with a pause
            of :data:`SHORT_POLL_PAUSE` after an empty answer). :meth:`stop` does not wait
            for an open poll: its thread gives back what it returns (if the process has
            exited by then, SQS does, after the visibility timeout).
        visibility_timeout: seconds received messages stay hidden (default: the queue's).
        client_kwargs: more arguments for ``boto3.client("sqs", ...)``.
        **options: the options of :class:`~fastapi_events.consumers.Consumer`
            (``concurrency``, ``max_deliveries``, ``backoff``, ``dead_letter``...).

    Raises:
        ImportError: boto3 is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        consumer = SQSConsumer(queue_url, handlers=[local_handler], region_name="eu-west-1")
        app = FastAPI(lifespan=consumer.lifespan)

    .. versionadded:: 1.0
    """

    messaging_system = "aws_sqs"
    wait_for_open_receive = False  # the poll's thread gives back what it gets

    def __init__(
        self,
        queue_url: str,
        *,
        handlers: Iterable[object],
        region_name: str | None = None,
        endpoint_url: str | None = None,
        wait_time_seconds: int = 20,
        visibility_timeout: int | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._boto3 = import_boto3()
        if not isinstance(queue_url, str) or not queue_url:
            raise ConfigurationError(f"queue_url must be a queue URL, got {capped_repr(queue_url)}")
        _check_int("wait_time_seconds", wait_time_seconds, 0, 20)
        if visibility_timeout is not None:
            _check_int("visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        super().__init__(handlers=handlers, **options)
        self.queue_url = queue_url
        self.region_name = region_name
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self._client_kwargs = {"endpoint_url": endpoint_url, **(client_kwargs or {})}
        self._client: Any = None
        self._poll: ThreadPoll[list[dict[str, Any]]] | None = None
        self._abandoned = False

    def describe(self) -> str:
        """The class and the queue URL."""
        return f"{describe_handler(self)}({capped_text(self.queue_url, 120)})"

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Create the boto3 client in a worker thread."""
        self._abandoned = False
        self._client = await asyncio.to_thread(self._new_client)

    def _new_client(self) -> Any:
        session = self._boto3.session.Session()  # sessions are not thread-safe; clients are
        return session.client("sqs", region_name=self.region_name, **self._client_kwargs)

    async def disconnect(self) -> None:
        """Close the client (left to a poll still running, which uses it)."""
        client, self._client = self._client, None
        if client is not None and not self._abandoned:
            client.close()

    async def receive(self, max_messages: int) -> list[Delivery]:
        """One long poll for up to ``max_messages`` (at most 10) messages."""
        client = self._client
        count = min(max_messages, _MAX_ENTRIES)
        poll = ThreadPoll(
            functools.partial(self._receive_now, client, count),
            functools.partial(self._give_back_now, client),
        )
        self._poll = poll
        messages = await poll.future
        if not messages and not self.wait_time_seconds:
            await asyncio.sleep(SHORT_POLL_PAUSE)  # short polling: no busy loop
        return [_delivery(message) for message in messages]

    def abandon(self, receiving: asyncio.Task[list[Delivery]]) -> None:
        """Leave the open poll to its thread, which gives back what it returns."""
        self._abandoned = True
        if self._poll is not None:
            self._poll.abandon()
        receiving.cancel()

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Delete the messages, 10 per ``DeleteMessageBatch``."""
        for chunk in _chunks(deliveries):
            entries = [{"Id": str(i), "ReceiptHandle": d.receipt} for i, d in enumerate(chunk)]
            await self._batch("delete", self._client.delete_message_batch, entries)

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """Set each message's visibility timeout to its delay (whole seconds, at most 12 h)."""
        for chunk in _chunks(retries):
            entries = [
                {
                    "Id": str(i),
                    "ReceiptHandle": delivery.receipt,
                    "VisibilityTimeout": min(MAX_VISIBILITY_TIMEOUT, max(0, round(delay))),
                }
                for i, (delivery, delay) in enumerate(chunk)
            ]
            await self._batch("retry", self._client.change_message_visibility_batch, entries)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Make the messages visible again at once (visibility timeout 0)."""
        await self.retry([(delivery, 0.0) for delivery in deliveries])

    # --- helpers -------------------------------------------------------------------------

    def _receive_now(self, client: Any, count: int) -> list[dict[str, Any]]:
        options: dict[str, Any] = {}
        if self.visibility_timeout is not None:
            options["VisibilityTimeout"] = self.visibility_timeout
        response = client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=self.wait_time_seconds,
            MessageAttributeNames=["All"],
            AttributeNames=_SYSTEM_ATTRIBUTES,
            **options,
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _give_back_now(self, client: Any, messages: list[dict[str, Any]]) -> None:
        """In the poll's thread: what a poll returned after the consumer stopped."""
        for chunk in _chunks(messages):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ]
            client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)

    async def _batch(self, what: str, method: Any, entries: list[dict[str, Any]]) -> None:
        response = await asyncio.to_thread(method, QueueUrl=self.queue_url, Entries=entries)
        failed = response.get("Failed") or []
        if failed:
            codes = sorted({str(item.get("Code", "?")) for item in failed})
            logger.warning(
                "%s: SQS refused to %s %d message(s) (%s); they are delivered again",
                self.describe(),
                what,
                len(failed),
                capped_text(", ".join(codes), 200),
            )


def _delivery(message: dict[str, Any]) -> Delivery:
    attributes = message.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    return Delivery(
        message,
        str(message.get("MessageId", "")),
        int(attributes.get("ApproximateReceiveCount", 1)),
        message["ReceiptHandle"],
        int(sent) / 1000 if sent else None,
    )


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _MAX_ENTRIES):
        yield items[start : start + _MAX_ENTRIES]


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be an int from {low} to {high} (SQS limits), got {capped_repr(value)}"
        )
