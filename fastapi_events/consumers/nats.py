"""Consume a NATS JetStream stream through a durable pull consumer (extra ``nats``): what
:class:`~fastapi_events.handlers.nats.NATSForwardHandler` publishes, into your handlers.

Importing this module does not import nats-py; constructing the consumer does.

.. versionadded:: 1.0
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._redact import capped_text, describe_handler
from ..errors import ConfigurationError
from ..handlers._nats_connect import connect_nats
from ..handlers.nats import _import_nats
from ._delivery import Delivery
from ._nats_client import (
    bind_consumer,
    check_consumer_config,
    check_name,
    message_id,
)
from ._nats_progress import InProgress
from ._nats_pull import Puller
from ._options import check_seconds
from .base import Consumer

__all__ = ["NATSConsumer"]

logger = logging.getLogger(__name__)

#: The longest wait for a pull request still open before messages are given back (a
#: message given back earlier would be delivered into it, and count one more delivery).
_IDLE_WAIT = 2.0
#: Seconds the server may take to answer the PING that confirms it read the verdicts.
_FLUSH_TIMEOUT = 5


class NATSConsumer(Consumer):
    """Consume a JetStream stream with a durable pull consumer and hand each message's
    event to your handlers.

    At start, the durable consumer ``durable`` of ``stream`` is used if it exists, else
    created (explicit acks, ``ack_wait``, no delivery limit of the server's: dead-lettering
    is done here; ``filter_subject=subject``; more settings in ``consumer_config``). Several
    workers using the same ``durable`` share its messages.

    Messages are pulled only as many as there is room for under ``concurrency``: what is
    there at once, else the first to come within ``fetch_wait`` seconds. A message whose
    handlers all took its event is acknowledged (``+ACK``); a failed one is given back
    with ``nak(delay=backoff)``, so the server delivers it again after the delay; deliveries
    are counted by the server (``num_delivered``), and a message that failed on its
    ``max_deliveries``-th delivery is dead-lettered, then terminated (``+TERM``: never
    delivered again). At stop, messages not handled are given back with ``nak()`` (their
    delivery counted), never acknowledged. Acknowledgements are flushed: the server has
    read them when the settling returns.

    Handling may take longer than ``ack_wait``: while a message is being handled, the
    server is told every ``ack_wait / 3`` seconds that it is in progress (``+WPI``), so it
    is not delivered again meanwhile (``in_progress=False``: not told; handling must then
    finish within ``ack_wait``). A worker that dies stops telling, and its messages come
    again after ``ack_wait``.

    Args:
        stream: the stream's name.
        handlers: the handler objects each event goes to.
        durable: the durable consumer's name (created if missing); keep it stable.
        subject: the consumer's filter subject when it is created (default: the whole
            stream).
        url: the server URL, or several comma-separated; credentials in it never appear
            in logs.
        client: a connected ``nats.aio.client.Client`` to use instead of one from ``url``
            (not closed).
        ack_wait: seconds the server waits for an acknowledgement before delivering a
            message again, when the consumer is created (an existing one keeps its own).
        fetch_wait: seconds one pull request waits for a message when there is none.
        in_progress: send in-progress acknowledgements while handling (see above).
        domain: the JetStream domain, if the account uses one.
        consumer_config: more ``nats.js.api.ConsumerConfig`` fields for a consumer created
            here (``deliver_policy``, ``max_ack_pending``...).
        connect_timeout: seconds the first connection may take before the start fails.
        connect_options: more arguments for ``nats.connect`` (default: reconnect forever,
            1 s apart, once connected).
        **options: the options of :class:`~fastapi_events.consumers.Consumer`
            (``concurrency``, ``max_deliveries``, ``backoff``, ``dead_letter``...).

    Raises:
        ImportError: nats-py is not installed.
        ConfigurationError: an argument is out of range, or the existing consumer does not
            acknowledge explicitly (at start).

    Example::

        consumer = NATSConsumer("ORDERS", durable="billing", handlers=[local_handler])
        app = FastAPI(lifespan=consumer.lifespan)

    .. versionadded:: 1.0
    """

    messaging_system = "nats"

    def __init__(
        self,
        stream: str,
        *,
        handlers: Iterable[object],
        durable: str,
        subject: str | None = None,
        url: str = "nats://127.0.0.1:4222",
        client: Any = None,
        ack_wait: float = 30.0,
        fetch_wait: float = 2.0,
        in_progress: bool = True,
        domain: str | None = None,
        consumer_config: Mapping[str, Any] | None = None,
        connect_timeout: float = 5.0,
        connect_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self._nats = _import_nats()
        check_name("stream", stream)
        check_name("durable", durable)
        for name, value in (("subject", subject), ("domain", domain)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(
                    f"{name} must be a non-empty str or None, got {type(value).__name__}"
                )
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"url must be a NATS URL (str), got {type(url).__name__}")
        config = check_consumer_config(self._nats, consumer_config)
        super().__init__(handlers=handlers, **options)
        self.stream, self.durable, self.subject, self.domain = stream, durable, subject, domain
        self.ack_wait = check_seconds("ack_wait", ack_wait)
        self.fetch_wait = check_seconds("fetch_wait", fetch_wait)
        self.connect_timeout = check_seconds("connect_timeout", connect_timeout)
        self.in_progress = bool(in_progress)
        #: More ``ConsumerConfig`` fields for a consumer created at start.
        self.consumer_config = config
        self._url = url  # may hold a password: kept out of repr and logs
        self._given_client = client
        self._connect = {
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            **(connect_options or {}),
        }
        self._nc: Any = None
        self._puller: Puller | None = None
        self._progress: InProgress | None = None

    def describe(self) -> str:
        """The class, the stream and the durable consumer."""
        where = f"{self.stream} durable {self.durable}"
        return f"{describe_handler(self)}({capped_text(where, 160)})"

    # --- the broker's hooks --------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, find or create the durable consumer, subscribe to the pulls' inbox."""
        nc = self._given_client
        if nc is None:
            nc = self._nats.NATS()
            await connect_nats(nc, self._url, self.connect_timeout, self._connect)
        self._nc = nc
        try:
            info = await bind_consumer(self, nc.jetstream(domain=self.domain))
            prefix = "$JS.API" if self.domain is None else f"$JS.{self.domain}.API"
            self._puller = Puller(nc, prefix, self.stream, self.durable)
            await self._puller.start()
        except BaseException:
            await self._close_client()
            raise
        ack_wait = info.config.ack_wait
        if self.in_progress and ack_wait:
            self._progress = InProgress(ack_wait / 3)

    async def disconnect(self) -> None:
        """Give back what came too late, unsubscribe, close the connection (not a client
        passed in)."""
        puller, self._puller = self._puller, None
        progress, self._progress = self._progress, None
        if progress is not None:
            await progress.stop()
        try:
            if puller is not None and self._nc is not None and not self._nc.is_closed:
                left = await puller.close()
                if left:
                    await self._settle([(msg, "nak", None) for msg in left])
        except Exception:
            logger.exception("%s: giving back messages at stop failed", self.describe())
        finally:
            await self._close_client()

    async def receive(self, max_messages: int) -> list[Delivery]:
        """Pull up to ``max_messages`` messages (waiting ``fetch_wait`` at most)."""
        puller = self._puller
        if puller is None:
            raise ConfigurationError(f"{self.describe()} is not started")
        messages = await puller.pull(max_messages, self.fetch_wait)
        if self._progress is not None and messages:
            self._progress.hold(messages)
        return [self._delivery(msg) for msg in messages]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """``+ACK`` each message (``+TERM`` a dead-lettered one), then flush."""
        await self._settle(
            [(d.receipt, "term" if d.dead_lettered else "ack", None) for d in deliveries]
        )

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        """``nak(delay=...)`` each message: the server delivers it again after its delay."""
        await self._settle([(d.receipt, "nak", delay) for d, delay in retries])

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """``nak()`` each message once no pull request is open (it would come straight
        back into it): delivered again at once, to any worker."""
        if self._puller is not None:
            await self._puller.idle(min(self.fetch_wait + 1.0, _IDLE_WAIT))
        await self._settle([(d.receipt, "nak", None) for d in deliveries])

    # --- helpers -------------------------------------------------------------------------

    async def _settle(self, verdicts: list[tuple[Any, str, float | None]]) -> None:
        if self._progress is not None:
            self._progress.drop(msg for msg, _, _ in verdicts)
        already = self._nats.errors.MsgAlreadyAckdError
        for msg, what, delay in verdicts:
            try:
                if what == "nak":
                    await msg.nak(delay=delay or None)
                else:
                    await (msg.ack() if what == "ack" else msg.term())
            except already:
                continue
        await self._nc.flush(timeout=_FLUSH_TIMEOUT)

    def _delivery(self, msg: Any) -> Delivery:
        meta = msg.metadata
        return Delivery(
            msg,
            message_id(msg, meta.sequence.stream),
            meta.num_delivered,
            msg,
            meta.timestamp.timestamp(),
        )

    async def _on_error(self, exc: Exception) -> None:
        logger.debug("%s: NATS connection error: %s", self.describe(), type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if self._nc is not None and self._nc.is_reconnecting:  # not at start, nor closed
            logger.warning("%s lost its NATS connection; reconnecting", self.describe())

    async def _on_reconnected(self) -> None:
        logger.warning("%s reconnected to NATS", self.describe())

    async def _close_client(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and nc is not self._given_client and not nc.is_closed:
            await nc.close()
