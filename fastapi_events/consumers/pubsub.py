"""Consume a Google Cloud Pub/Sub subscription (extra ``google``): what
:class:`~fastapi_events.handlers.gcp.GoogleCloudSimplePubSubHandler` publishes, into your
handlers.

Importing this module does not import ``google-cloud-pubsub``; constructing the consumer
does.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._checks import check_text
from .._redact import capped_repr, describe_handler
from ..errors import ConfigurationError
from ..handlers.gcp import _import_pubsub
from ._delivery import Delivery
from ._loop import SETTLE_GRACE
from ._pubsub_attempts import Attempts
from ._pubsub_inbox import Inbox, InlineScheduler
from .base import Consumer

__all__ = ["MAX_ACK_DEADLINE", "PubSubConsumer"]

logger = logging.getLogger(__name__)

#: Pub/Sub's longest ack deadline (10 minutes): the longest retry delay it can express.
MAX_ACK_DEADLINE = 600
_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")
_FLOW_CONTROL = (
    "max_bytes",
    "max_lease_duration",
    "min_duration_per_lease_extension",
    "max_duration_per_lease_extension",
)


class PubSubConsumer(Consumer):
    """Receive events from a Pub/Sub subscription with a streaming pull and hand them to
    your handlers.

    ``SubscriberClient.subscribe`` streams the messages, never more outstanding than
    ``concurrency`` (its flow control), and keeps their leases extended while they are
    handled: a slow handler is not a redelivery. The client's thread hands each message
    to the event loop. A message whose handlers all succeeded is acknowledged (only
    those: a failure acknowledges nothing else). A failed one is retried by Pub/Sub
    itself: its ack deadline is set to the backoff delay (at most
    :data:`MAX_ACK_DEADLINE` seconds) and the client lets go of it, so Pub/Sub delivers
    it again then; on a subscription with a retry policy it is nacked instead and the
    policy spaces the redeliveries. A message that failed on its ``max_deliveries``-th
    delivery is dead-lettered, then acknowledged. Reads every body the forwarder writes
    (the JSON array, CloudEvents structured and binary).

    Deliveries are counted by Pub/Sub (``delivery_attempt``) on a subscription with a
    dead-letter policy; without one, by this consumer, for the messages it saw fail (a
    count that another worker, or a restart, starts again). Give the subscription a
    dead-letter policy with ``max_delivery_attempts`` at least ``max_deliveries``, or pass
    ``max_deliveries=None`` to leave dead-lettering to that policy alone.

    Args:
        project_id: the Google Cloud project of the subscription.
        subscription_id: the subscription's id (not its path).
        handlers: the handler objects each event goes to.
        broker_backoff: ``True``: nack a failed message and let the subscription's retry
            policy time its redelivery; ``False``: delay it by ``backoff`` with its ack
            deadline; ``None`` (default): ``True`` when the subscription has a retry
            policy (read at start; ``False`` where reading it is not permitted).
        flow_control: more ``FlowControl`` settings (``max_bytes``,
            ``max_lease_duration``...); ``max_messages`` is ``concurrency``.
        subscriber_client: a ``SubscriberClient`` to use instead of creating one (not
            closed by the consumer).
        **options: the options of :class:`~fastapi_events.consumers.Consumer`
            (``concurrency``, ``max_deliveries``, ``backoff``, ``dead_letter``...).

    Raises:
        ImportError: ``google-cloud-pubsub`` is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        consumer = PubSubConsumer("my-project", "orders-worker", handlers=[local_handler])
        app = FastAPI(lifespan=consumer.lifespan)

    .. versionadded:: 1.0
    """

    messaging_system = "gcp_pubsub"
    wait_for_open_receive = False  # a receive waiting for messages holds none

    def __init__(
        self,
        project_id: str,
        subscription_id: str,
        *,
        handlers: Iterable[object],
        broker_backoff: bool | None = None,
        flow_control: Mapping[str, Any] | None = None,
        subscriber_client: Any = None,
        **options: Any,
    ) -> None:
        self._pubsub = _import_pubsub()
        _check_names(project_id, subscription_id)
        if broker_backoff is not None and not isinstance(broker_backoff, bool):
            raise ConfigurationError(
                f"broker_backoff must be True, False or None, got {type(broker_backoff).__name__}"
            )
        super().__init__(handlers=handlers, **options)
        self.subscription_path = f"projects/{project_id}/subscriptions/{subscription_id}"
        self.broker_backoff = broker_backoff
        self.flow_control = self._flow_control(flow_control)
        self._given_client = subscriber_client
        self._client: Any = None
        self._inbox: Inbox | None = None
        self._stream: Any = None
        self._nack_retries = False
        self._attempts = Attempts()

    def _flow_control(self, extra: Mapping[str, Any] | None) -> Any:
        unknown = sorted(set(extra or {}) - set(_FLOW_CONTROL))
        if not isinstance(extra, (Mapping, type(None))) or unknown:
            raise ConfigurationError(
                f"flow_control takes a dict of {', '.join(_FLOW_CONTROL)} (max_messages is "
                f"concurrency), got {capped_repr(unknown) if unknown else type(extra).__name__}"
            )
        return self._pubsub.types.FlowControl(max_messages=self.concurrency, **(extra or {}))

    def describe(self) -> str:
        """The class and the subscription's path."""
        return f"{describe_handler(self)}({self.subscription_path})"

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Create the client (in a worker thread), read the subscription's retry policy
        when ``broker_backoff`` is ``None``, and open the streaming pull."""
        client = self._given_client
        if client is None:
            client = await asyncio.to_thread(self._pubsub.SubscriberClient)
        self._client = client
        try:
            nack = self.broker_backoff
            if nack is None:
                nack = await asyncio.to_thread(self._has_retry_policy, client)
            self._nack_retries = nack
            self._open()
        except BaseException:
            await self.disconnect()
            raise

    def _has_retry_policy(self, client: Any) -> bool:
        from google.api_core import exceptions  # installed with google-cloud-pubsub

        try:
            subscription = client.get_subscription(subscription=self.subscription_path)
        except exceptions.PermissionDenied:  # a subscriber role may not read it
            logger.info(
                "%s: not permitted to read the subscription; failed messages are delayed "
                "with their ack deadline (pass broker_backoff=True to nack them instead)",
                self.describe(),
            )
            return False
        return "retry_policy" in subscription

    def _open(self) -> None:
        """Start a streaming pull whose callback fills a new inbox."""
        inbox = Inbox(asyncio.get_running_loop())
        stream = self._client.subscribe(
            self.subscription_path,
            inbox.put,
            flow_control=self.flow_control,
            scheduler=InlineScheduler(inbox),
        )
        stream.add_done_callback(lambda done: inbox.fail(_ended(done)))
        self._inbox, self._stream = inbox, stream

    async def disconnect(self) -> None:
        """Close the stream: it stops receiving, nacks what was given back or never
        handed over, and sends the last acknowledgements; then close the client (not one
        passed in)."""
        inbox, stream, client = self._inbox, self._stream, self._client
        self._inbox = self._stream = self._client = None
        if stream is not None:
            await _close(stream)
        if inbox is not None:
            for message in inbox.close():  # only if the client did not shut down in time
                message.nack()
            self.stats.received += inbox.untaken
            self.stats.released += inbox.untaken
        if client is not None and client is not self._given_client:
            await asyncio.to_thread(client.close)

    async def receive(self, max_messages: int) -> list[Delivery]:
        """Wait for up to ``max_messages`` messages from the stream (a stream that failed
        raises its error once and is opened again)."""
        assert self._inbox is not None
        try:
            messages = await self._inbox.take(max_messages)
        except Exception:
            self._reopen()
            raise
        return [self._delivery(message) for message in messages]

    def _reopen(self) -> None:
        """After the stream failed (and its client nacked what was in the inbox)."""
        if self._stream is not None:
            self._stream.cancel()
        self._open()

    def _delivery(self, message: Any) -> Delivery:
        message_id: str = message.message_id
        deliveries = self._attempts.delivery(message_id, message.delivery_attempt)
        sent_at = message.publish_time.timestamp()
        return Delivery(message, message_id, deliveries, message, sent_at)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge each message (the client batches the requests)."""
        forget = self._attempts.forget
        for delivery in deliveries:
            delivery.receipt.ack()
            forget(delivery.message_id)

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """Set each message's ack deadline to its delay (whole seconds, rounded up) and
        let go of it; or nack it (no delay, or the subscription's retry policy in charge)."""
        for delivery, delay in retries:
            self._attempts.failed(delivery.message_id, delivery.deliveries)
            message = delivery.receipt
            seconds = min(MAX_ACK_DEADLINE, math.ceil(delay))
            if self._nack_retries or seconds <= 0:
                message.nack()
                continue
            message.modify_ack_deadline(seconds)
            message.drop()  # no more lease extensions: the deadline is the delay

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Nack the messages once the stream has stopped receiving (when it closes):
        Pub/Sub delivers them again at once, to another subscriber."""
        if self._inbox is None:
            for delivery in deliveries:
                delivery.receipt.nack()
            return
        self._inbox.give_back_later([delivery.receipt for delivery in deliveries])


def _ended(stream: Any) -> BaseException:
    """Why a streaming pull ended (it ends without an error only when cancelled)."""
    error = stream.exception()
    return error if error is not None else ConnectionError("the streaming pull ended")


async def _close(stream: Any) -> None:
    """Cancel the streaming pull and wait (a while) until it has shut down."""
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    def on_done(_: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop stopped waiting and closed
            loop.call_soon_threadsafe(closed.set)

    stream.cancel()
    stream.add_done_callback(on_done)
    try:
        await asyncio.wait_for(closed.wait(), SETTLE_GRACE)
    except asyncio.TimeoutError:
        logger.warning("the Pub/Sub streaming pull did not shut down within %.0fs", SETTLE_GRACE)


def _check_names(project_id: object, subscription_id: object) -> None:
    check_text("project_id", project_id)
    if not isinstance(subscription_id, str) or not _ID.fullmatch(subscription_id):
        got = (
            capped_repr(subscription_id)
            if isinstance(subscription_id, str)
            else type(subscription_id).__name__
        )
        raise ConfigurationError(
            "subscription_id must be a subscription's id (3-255 letters, digits or -_.~+%, "
            f"starting with a letter; not its projects/.../subscriptions/... path), got {got}"
        )
