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
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._redact import capped_repr, capped_text, describe_handler
from ..errors import ConfigurationError
from ..handlers._aws_batch import import_boto3
from ..handlers._sqs_async import SQSAsyncTransport, build_transport, check_transport
from ._delivery import Delivery
from ._options import check_count
from ._sqs_messages import (
    MAX_ENTRIES,
    MAX_VISIBILITY_TIMEOUT,
    as_boto3,
    check_int,
    chunks,
    delay_entries,
    delete_entries,
    delivery,
    give_back_entries,
)
from ._thread_poll import ThreadPoll
from .base import Consumer

__all__ = ["MAX_VISIBILITY_TIMEOUT", "SHORT_POLL_PAUSE", "SQSConsumer"]

logger = logging.getLogger(__name__)

#: Seconds between two empty receives when ``wait_time_seconds=0`` (short polling).
SHORT_POLL_PAUSE = 0.1
#: The most ReceiveMessage calls the default ``receives`` keeps in flight.
_MAX_RECEIVES = 10
_SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]
#: Polls left open at stop and their give-backs (asyncio transport): held until done.
_LEFT_OVER: set[asyncio.Future[Any]] = set()
#: The batch calls: boto3's method and the SQS action.
_CALLS = {
    "delete": ("delete_message_batch", "DeleteMessageBatch"),
    "retry": ("change_message_visibility_batch", "ChangeMessageVisibilityBatch"),
}


class SQSConsumer(Consumer):
    """Receive events from an SQS queue with long polling and hand them to your handlers.

    Receives with ``ReceiveMessage`` (up to 10 at a time, no more than there is room for
    under ``concurrency``; message attributes and ``ApproximateReceiveCount``) without
    blocking the event loop: by default on the loop itself, signed with botocore's SigV4
    signer and the boto3 client's credentials, region and endpoint (as
    :class:`~fastapi_events.handlers.aws.SQSForwardHandler` sends), else with boto3 in a
    worker thread. Messages whose handlers all succeeded
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
        transport: ``"auto"`` (asyncio, unless the client is configured with a proxy, from
            its ``Config`` or the environment, or a client certificate), ``"asyncio"``, or
            ``"botocore"`` (boto3's calls in worker threads, for every botocore feature;
            botocore's own retries apply to these only).
        receives: ReceiveMessage calls in flight at once (asyncio transport; one with
            boto3), each for up to 10 messages and together for at most ``concurrency``:
            at a 20 ms round trip one call in flight takes at most ~500 messages/s. Default:
            ``concurrency / 10``, 1 to 10.
        **options: the options of :class:`~fastapi_events.consumers.Consumer`
            (``concurrency``, ``max_deliveries``, ``backoff``, ``dead_letter``...).

    Raises:
        ImportError: boto3 is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        consumer = SQSConsumer(queue_url, handlers=[local_handler], region_name="eu-west-1")
        app = FastAPI(lifespan=consumer.lifespan)

    .. versionadded:: 1.0

    .. versionadded:: 1.0
       ``transport``.
    """

    messaging_system = "aws_sqs"
    wait_for_open_receive = False  # the poll's thread gives back what it gets
    receive_batch = MAX_ENTRIES

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
        transport: str = "auto",
        receives: int | None = None,
        **options: Any,
    ) -> None:
        self._boto3 = import_boto3()
        self.transport = check_transport(transport)
        if not isinstance(queue_url, str) or not queue_url:
            raise ConfigurationError(f"queue_url must be a queue URL, got {capped_repr(queue_url)}")
        check_int("wait_time_seconds", wait_time_seconds, 0, 20)
        if visibility_timeout is not None:
            check_int("visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        super().__init__(handlers=handlers, **options)
        default = max(1, min(_MAX_RECEIVES, math.ceil(self.concurrency / MAX_ENTRIES)))
        #: ReceiveMessage calls in flight at once with the asyncio transport (one with boto3).
        self.receives = default if receives is None else check_count("receives", receives)
        self.queue_url = queue_url
        self.region_name = region_name
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self._client_kwargs = {"endpoint_url": endpoint_url, **(client_kwargs or {})}
        self._client: Any = None
        self._sender: SQSAsyncTransport | None = None
        self._poll: ThreadPoll[list[dict[str, Any]]] | None = None
        self._abandoned = False

    def describe(self) -> str:
        """The class and the queue URL."""
        return f"{describe_handler(self)}({capped_text(self.queue_url, 120)})"

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Create the boto3 client (and the asyncio transport) in a worker thread."""
        self._abandoned = False
        self._client, self._sender = await asyncio.to_thread(self._new_client)
        self.receives_in_flight = 1 if self._sender is None else self.receives

    def _new_client(self) -> tuple[Any, SQSAsyncTransport | None]:
        session = self._boto3.session.Session()  # sessions are not thread-safe; clients are
        client = session.client("sqs", region_name=self.region_name, **self._client_kwargs)
        connections = self.receives + 2  # the polls, a delete and a visibility change
        return client, build_transport(
            self.transport, session, client, self._client_kwargs, connections
        )

    async def disconnect(self) -> None:
        """Close the client (what a poll still running uses is left to it)."""
        client, self._client = self._client, None
        sender, self._sender = self._sender, None
        if sender is not None and not self._abandoned:
            sender.close()
        if client is not None and not (self._abandoned and sender is None):
            client.close()

    async def receive(self, max_messages: int) -> list[Delivery]:
        """One long poll for up to ``max_messages`` (at most 10) messages."""
        count = min(max_messages, MAX_ENTRIES)
        if self._sender is not None:
            answer = await self._sender.call("ReceiveMessage", self._receive_request(count))
            messages = [as_boto3(message) for message in answer.get("Messages") or []]
        else:
            client = self._client
            poll = ThreadPoll(
                functools.partial(self._receive_now, client, count),
                functools.partial(self._give_back_now, client),
            )
            self._poll = poll
            messages = await poll.future
        if not messages and not self.wait_time_seconds:
            await asyncio.sleep(SHORT_POLL_PAUSE)  # short polling: no busy loop
        return [delivery(message) for message in messages]

    def abandon(self, receiving: asyncio.Task[list[Delivery]]) -> None:
        """Leave the open poll to finish by itself and give back what it returns (its
        thread; on the loop: a task, as long as the loop runs)."""
        self._abandoned = True
        if self._sender is not None:
            _LEFT_OVER.add(receiving)  # runs to its end (or the loop's), never collected
            receiving.add_done_callback(_LEFT_OVER.discard)
            receiving.add_done_callback(functools.partial(self._give_back_late, self._sender))
            return
        if self._poll is not None:
            self._poll.abandon()
        receiving.cancel()

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Delete the messages, 10 per ``DeleteMessageBatch``, the calls concurrently."""
        await self._batches("delete", [delete_entries(chunk) for chunk in chunks(deliveries)])

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """Set each message's visibility timeout to its delay (whole seconds, at most 12 h)."""
        await self._batches("retry", [delay_entries(chunk) for chunk in chunks(retries)])

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Make the messages visible again at once (visibility timeout 0)."""
        await self.retry([(delivery, 0.0) for delivery in deliveries])

    # --- helpers -------------------------------------------------------------------------

    def _receive_request(self, count: int) -> dict[str, Any]:
        request: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": count,
            "WaitTimeSeconds": self.wait_time_seconds,
            "MessageAttributeNames": ["All"],
            "AttributeNames": _SYSTEM_ATTRIBUTES,
        }
        if self.visibility_timeout is not None:
            request["VisibilityTimeout"] = self.visibility_timeout
        return request

    def _receive_now(self, client: Any, count: int) -> list[dict[str, Any]]:
        response = client.receive_message(**self._receive_request(count))
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _give_back_now(self, client: Any, messages: list[dict[str, Any]]) -> None:
        """In the poll's thread: what a poll returned after the consumer stopped."""
        for chunk in chunks(messages):
            entries = give_back_entries(chunk)
            client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)

    def _give_back_late(self, sender: SQSAsyncTransport, receiving: asyncio.Task[Any]) -> None:
        """On the loop: what a poll open at stop returned is made visible again."""
        late = [] if receiving.cancelled() or receiving.exception() else receiving.result()
        if not late:  # nothing to give back (or the loop is shutting down)
            sender.close()
            return
        task = asyncio.ensure_future(self._give_back_async(sender, [d.message for d in late]))
        _LEFT_OVER.add(task)
        task.add_done_callback(_LEFT_OVER.discard)

    async def _give_back_async(
        self, sender: SQSAsyncTransport, messages: list[dict[str, Any]]
    ) -> None:
        try:
            for chunk in chunks(messages):
                request = {"QueueUrl": self.queue_url, "Entries": give_back_entries(chunk)}
                await sender.call("ChangeMessageVisibilityBatch", request)
        except Exception:
            logger.exception("giving back messages received after a consumer stopped failed")
        finally:
            sender.close()

    async def _batches(self, what: str, batches: list[list[dict[str, Any]]]) -> None:
        """Send ``batches`` at once (a round trip each would cap a busy consumer at 10
        messages per round trip); the first failure is raised once all are done."""
        if len(batches) == 1:
            await self._batch(what, batches[0])
            return
        outcomes = await asyncio.gather(
            *(self._batch(what, entries) for entries in batches), return_exceptions=True
        )
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure

    async def _batch(self, what: str, entries: list[dict[str, Any]]) -> None:
        method, action = _CALLS[what]
        request = {"QueueUrl": self.queue_url, "Entries": entries}
        if self._sender is not None:
            response = await self._sender.call(action, request)
        else:
            response = await asyncio.to_thread(getattr(self._client, method), **request)
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
