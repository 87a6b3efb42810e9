"""Forward events to NATS JetStream (extra ``nats``).

Importing this module does not import nats-py; constructing the handler does, and the
connection is opened at startup or the first event.

Each event becomes one JetStream message on its subject: the body (0.12's JSON array
``["name", payload]`` by default) and these headers (values percent-encoded, as the
CloudEvents NATS binding requires):

- ``Nats-Msg-Id``: the event id, so JetStream stores an event sent twice (a retry after a
  lost ack) once, within the stream's duplicate window;
- ``Content-Type``: the body's media type;
- the message attributes: ``event_name``, ``event_id``, ``correlation_id``,
  ``traceparent``, ``tracestate`` (see :mod:`fastapi_events.serialization`);
- with binary CloudEvents, the ``ce-*`` attributes as ``ce-*`` headers and
  ``ce-datacontenttype``, per the CloudEvents NATS protocol binding.

A consumer turns a message back into the event with
:func:`fastapi_events.serialization.decode`.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .._checks import check_seconds
from .._event import Event
from .._nats_headers import nats_headers
from ..errors import ConfigurationError
from ..serialization import MessageFormat, Serializer
from ._batching import RetryPolicy
from ._nats_acks import Acks, JetStreamPublisher, ack_error, check_subject, wire_size
from ._nats_connect import connect_nats
from ._outgoing import Failure, OutgoingMessage, SendResult, error_detail
from .forwarder import Forwarder

__all__ = ["NATS_INSTALL_HINT", "NATSForwardHandler", "Subject"]

NATS_INSTALL_HINT = (
    "Package 'nats-py' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[nats]'`"
)
#: A subject, or a function of the event giving one.
Subject = str | Callable[[Event], str]


def _import_nats() -> ModuleType:
    try:
        import nats
        import nats.errors
        import nats.js.errors
    except ImportError as exc:
        raise ImportError(NATS_INSTALL_HINT) from exc
    return nats


def _drop_unsent(nc: Any) -> None:
    """Forget what nats-py buffered but had not written when the connection dropped: it
    would send it after reconnecting, when those events may have been reported already
    (they are retried with the same ``Nats-Msg-Id`` meanwhile). Subscriptions are
    replayed on reconnect by themselves."""
    pending = getattr(nc, "_pending", None)
    if isinstance(pending, list) and hasattr(nc, "_pending_data_size"):
        pending.clear()
        nc._pending_data_size = 0


class NATSForwardHandler(Forwarder):
    """Publish every event to NATS JetStream and await the stream's acks.

    A batch is published in order without waiting, then its acks are awaited together
    (up to ``ack_timeout`` seconds). An event is delivered once its stream acknowledged it.
    A message no stream captures (no responders), a lost connection and an ack that does
    not come are retried with backoff, the same ``Nats-Msg-Id`` each time, then reported;
    a message the stream refuses (too large, a wrong expected sequence...) is reported for
    its event only.

    While the connection is lost, nats-py reconnects by itself; publishing meanwhile fails
    at once instead of buffering (``pending_size=0``), so a reported event is never sent
    later by the client.

    Args:
        subject: the subject, or ``event -> subject`` to route each event; a stream must
            capture it (``add_stream(subjects=[...])``).
        url: the server URL, or several comma-separated; credentials in it never appear in
            logs or health reports.
        ack_timeout: seconds to wait for a batch's acks.
        connect_timeout: seconds the first connection may take before the send fails.
        serializer: ``(name, payload) -> str | bytes``, or a message format such as
            :class:`~fastapi_events.serialization.CloudEventsFormat`.
        max_batch_size: messages published before their acks are awaited.
        max_batch_bytes: bytes per batch (``None``: no limit).
        retry: backoff for transient failures.
        client: a connected ``nats.aio.client.Client`` to use instead of one from ``url``;
            the handler then does not close it.
        **connect_options: for ``nats.connect`` (default: reconnect forever, 1 s apart,
            ``pending_size=0``).

    Raises:
        ImportError: nats-py is not installed.
        ConfigurationError: an argument is out of range.

    Example::

        handler = NATSForwardHandler(
            lambda event: f"events.{event.name}", url="nats://127.0.0.1:4222"
        )
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    .. versionadded:: 1.0
    """

    messaging_system = "nats"
    log = logging.getLogger(__name__)

    def __init__(
        self,
        subject: Subject,
        *,
        url: str = "nats://127.0.0.1:4222",
        ack_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        serializer: Serializer | MessageFormat | None = None,
        max_batch_size: int = 500,
        max_batch_bytes: int | None = None,
        retry: RetryPolicy | None = None,
        client: Any = None,
        **connect_options: Any,
    ) -> None:
        self._nats = _import_nats()
        super().__init__(
            subject,
            serializer=serializer,
            max_batch_size=max_batch_size,
            max_batch_bytes=max_batch_bytes,
            retry=retry,
        )
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"url must be a NATS URL, got a {type(url).__name__}")
        self.subject = subject
        self.ack_timeout = check_seconds("ack_timeout", ack_timeout)
        self.connect_timeout = check_seconds("connect_timeout", connect_timeout)
        self._url = url  # may hold a password: kept out of repr, logs and health
        self._given_client = client
        self._connect_options = connect_options

    def _options(self, nc: Any, errors: list[Exception]) -> dict[str, Any]:
        async def on_error(exc: Exception) -> None:
            errors[:] = [exc]  # the last one
            self.log.debug("NATS connection error: %s", error_detail(exc))

        async def on_disconnected() -> None:
            if nc.is_reconnecting:  # not at start-up, nor when closed
                _drop_unsent(nc)
                self.log.warning("%s lost its NATS connection; reconnecting", self.describe())

        async def on_reconnected() -> None:
            self.log.warning("%s reconnected to NATS", self.describe())

        return {
            "pending_size": 0,
            "error_cb": on_error,
            "disconnected_cb": on_disconnected,
            "reconnected_cb": on_reconnected,
            **self._connect_options,
        }

    async def connect(self) -> JetStreamPublisher:
        """Connect, trying each server twice at most (within ``connect_timeout``), then
        subscribe to the acks' replies. Once connected, nats-py reconnects by itself."""
        if self._given_client is not None:
            return await JetStreamPublisher(self._given_client, owned=False).start()
        nc = self._nats.NATS()
        seen: list[Exception] = []
        try:
            await connect_nats(nc, self._url, self.connect_timeout, self._options(nc, seen))
            return await JetStreamPublisher(nc, owned=True).start()
        except BaseException as exc:
            with contextlib.suppress(Exception):  # a client that never got far cannot close
                await nc.close()
            if seen and isinstance(exc, (asyncio.TimeoutError, self._nats.errors.NoServersError)):
                raise seen[0] from None  # what stopped the connection, not the give-up
            raise

    async def disconnect(self, client: JetStreamPublisher) -> None:
        """Close the connection (only unsubscribe from a client passed in)."""
        await client.close()

    async def ping(self, client: JetStreamPublisher) -> None:
        """Ask JetStream for the account's info: the server answers and JetStream is on."""
        await client.nc.jetstream(timeout=self.health_timeout).account_info()

    def is_transient(self, exc: Exception) -> bool:
        """Connection errors, timeouts, no stream answering and JetStream unavailable."""
        errors, js_errors = self._nats.errors, self._nats.js.errors
        transient = (
            errors.ConnectionClosedError,
            errors.ConnectionReconnectingError,
            errors.OutboundBufferLimitError,
            errors.NoServersError,
            errors.StaleConnectionError,
            errors.UnexpectedEOF,
            errors.FlushTimeoutError,
            errors.NoRespondersError,
            js_errors.NoStreamResponseError,
            js_errors.ServiceUnavailableError,
        )
        return isinstance(exc, transient) or super().is_transient(exc)

    def encode(self, event: Event) -> OutgoingMessage:
        """The message, its attributes turned into NATS headers (``Nats-Msg-Id`` first)."""
        message = super().encode(event)
        return OutgoingMessage(event, message.body, nats_headers(event.id, message.attributes))

    def message_size(self, message: OutgoingMessage) -> int:
        """Headers and body, as the server counts them."""
        return wire_size(message.body, message.attributes)

    async def send(
        self, client: JetStreamPublisher, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult:
        """Publish the batch in order, then await every ack (``ack_timeout``)."""
        check_subject(destination)
        failed: list[Failure] = []
        acks = Acks(len(batch))
        limit = client.nc.max_payload
        try:
            for index, message in enumerate(batch):
                try:
                    if self.message_size(message) > limit:
                        raise self._nats.errors.MaxPayloadError
                    await client.publish(
                        destination, message.body, dict(message.attributes), acks, index
                    )
                except Exception as exc:
                    failed.append(Failure(message, exc, retryable=self.is_transient(exc)))
            await acks.wait(self.ack_timeout)
        finally:
            client.forget(acks)
        failed.extend(self._refused(batch, acks))
        return SendResult(failed)

    def _refused(self, batch: Sequence[OutgoingMessage], acks: Acks) -> list[Failure]:
        failed = []
        for message, token, reply in zip(batch, acks.tokens, acks.replies, strict=True):
            if token is None:  # not published: already failed
                continue
            error = self._nats.errors.TimeoutError() if reply is None else ack_error(reply)
            if error is not None:
                failed.append(Failure(message, error, retryable=self.is_transient(error)))
        return failed
