"""Forward events to a Google Cloud Pub/Sub topic (extra ``google``).

Importing this module does not import ``google-cloud-pubsub``; constructing the handler
does, and the publisher client is created on the first event (never in ``__init__``:
Litestar builds middleware, and so may touch handlers, once per route).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from .._checks import check_text
from .._event import Event
from .._redact import capped_repr
from ..errors import ConfigurationError
from ..serialization import MessageFormat, Serializer
from ._outgoing import Failure, OutgoingMessage, SendResult
from .forwarder import Forwarder

__all__ = [
    "GOOGLE_INSTALL_HINT",
    "MAX_MESSAGES_PER_PUBLISH",
    "GoogleCloudSimplePubSubHandler",
    "MessageAttributes",
    "OrderingKey",
]

GOOGLE_INSTALL_HINT = (
    "Package 'google-cloud-pubsub' is not installed but required. "
    "You can install it by running `pip install 'fastapi-events[google]'`"
)
#: Pub/Sub accepts at most 1000 messages in one publish request.
MAX_MESSAGES_PER_PUBLISH = 1000
# Pub/Sub's limits on message attributes (https://cloud.google.com/pubsub/quotas#resource_limits).
_MAX_ATTRIBUTES, _MAX_KEY_BYTES, _MAX_VALUE_BYTES = 100, 256, 1024

#: An ordering key: a constant, or a function of the event (``None``/``""``: unordered).
OrderingKey = str | Callable[[Event], str | None]
#: Extra message attributes: a constant mapping, or a function of the event.
MessageAttributes = Mapping[str, str] | Callable[[Event], Mapping[str, str]]


def _import_pubsub() -> ModuleType:
    try:
        from google.cloud import pubsub_v1  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(GOOGLE_INSTALL_HINT) from exc
    return pubsub_v1  # type: ignore[no-any-return]


class GoogleCloudSimplePubSubHandler(Forwarder):
    """Publish every event as one message to a Pub/Sub topic.

    The body is ``serializer(event)`` (default: the JSON array ``["name", payload]``) or a
    :class:`~fastapi_events.serialization.MessageFormat` such as
    :class:`~fastapi_events.serialization.CloudEventsFormat`. The attributes carry the
    event name, id, content type and W3C trace context (metadata wins over ``attributes``).
    The client batches messages (``max_batch_size`` and ``batch_settings_kwargs`` become its
    ``BatchSettings``; keys there win); every publish is awaited without blocking the loop
    and a failure is reported for its event only. A failed ordered publish resumes its
    ordering key, so later events with that key are published again.

    Args:
        project_id: the Google Cloud project of the topic.
        topic_id: the topic's id (not its path).
        max_batch_size: messages per publish request, 1 to 1000.
        batch_settings_kwargs: more ``BatchSettings`` (``max_bytes``, ``max_latency``).
        serializer: ``event -> str | bytes``, or a message format.
        attributes: extra attributes, constant or per event.
        ordering_key: a constant key or ``event -> key``; needs ``enable_message_ordering``.
        enable_message_ordering: publish with ordering keys (and in order per key).
        publisher_client: a ``PublisherClient`` to use instead of creating one; the
            handler then neither configures nor stops it.
        close_timeout: seconds :meth:`aclose` waits for unconfirmed publishes.

    Raises:
        ImportError: ``google-cloud-pubsub`` is not installed.
        ConfigurationError: an argument is out of range or inconsistent.

    Example::

        handler = GoogleCloudSimplePubSubHandler("my-project", "user-events")
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    .. versionchanged:: 1.0
       ``batch_settings_kwargs`` is optional (0.12 raised TypeError without it); the
       keyword-only options are new.
    """

    messaging_system = "gcp_pubsub"
    client_per_loop = False  # the client publishes from its own threads
    log = logging.getLogger(__name__)

    def __init__(
        self,
        project_id: str,
        topic_id: str,
        max_batch_size: int = MAX_MESSAGES_PER_PUBLISH,
        batch_settings_kwargs: Mapping[str, Any] | None = None,
        serializer: Serializer | MessageFormat | None = None,
        *,
        attributes: MessageAttributes | None = None,
        ordering_key: OrderingKey | None = None,
        enable_message_ordering: bool = False,
        publisher_client: Any = None,
        close_timeout: float = 10.0,
    ) -> None:
        self._pubsub = _import_pubsub()
        check_text("project_id", project_id)
        check_text("topic_id", topic_id)
        if ordering_key is not None and not enable_message_ordering:
            raise ConfigurationError(
                f"ordering_key={capped_repr(ordering_key)} needs enable_message_ordering=True "
                "(Pub/Sub rejects ordering keys on a client without message ordering)"
            )
        if publisher_client is not None and batch_settings_kwargs is not None:
            raise ConfigurationError(
                "batch_settings_kwargs cannot apply to a publisher_client you pass in: "
                "configure that client's BatchSettings yourself"
            )
        self.topic_path = f"projects/{project_id}/topics/{topic_id}"
        # The client batches by itself: each drain publishes all its events at once.
        super().__init__(self.topic_path, serializer=serializer, max_batch_size=None)
        self.attributes = attributes
        self.ordering_key = ordering_key
        self.close_timeout = close_timeout
        self._batch_settings = self._make_batch_settings(max_batch_size, batch_settings_kwargs)
        self._options = self._pubsub.types.PublisherOptions(
            enable_message_ordering=enable_message_ordering
        )
        self._given_client = publisher_client
        self._owns_client = publisher_client is None
        self._pending: set[Any] = set()

    def _make_batch_settings(self, max_batch_size: int, extra: Mapping[str, Any] | None) -> Any:
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int):
            raise ConfigurationError(
                f"max_batch_size must be an int, got {capped_repr(max_batch_size)}"
            )
        if not 1 <= max_batch_size <= MAX_MESSAGES_PER_PUBLISH:
            raise ConfigurationError(
                f"max_batch_size must be between 1 and {MAX_MESSAGES_PER_PUBLISH} "
                f"(Pub/Sub limit), got {capped_repr(max_batch_size)}"
            )
        # The client commits a batch when the next message would bring it to max_messages,
        # so a batch holds at most max_messages - 1: ask for one more to get max_batch_size.
        settings = {"max_messages": max_batch_size + 1, **(extra or {})}
        try:
            return self._pubsub.types.BatchSettings(**settings)
        except TypeError as exc:
            raise ConfigurationError(
                f"batch_settings_kwargs accepts max_bytes, max_latency and max_messages, "
                f"got {capped_repr(sorted(extra or {}))}"
            ) from exc

    # --- the forwarder's hooks --------------------------------------------------------------

    async def connect(self) -> Any:
        """The client passed in, or a new one (created in a worker thread)."""
        if self._given_client is not None:
            return self._given_client
        return await asyncio.to_thread(self._new_client)

    def _new_client(self) -> Any:
        return self._pubsub.PublisherClient(
            batch_settings=self._batch_settings, publisher_options=self._options
        )

    def encode(self, event: Event) -> OutgoingMessage:
        """The body and attributes (``attributes=`` first, the event's metadata winning)."""
        message = super().encode(event)
        attributes = dict(message.attributes)
        if self.attributes is not None:
            extra = self.attributes(event) if callable(self.attributes) else self.attributes
            attributes = {**extra, **attributes}
        _check_attributes(attributes)
        return OutgoingMessage(event, message.body, attributes)

    async def send(
        self, client: Any, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult:
        """Publish every message and await each publish; a failed ordered publish
        resumes its key. The client has retried what it could: failures are final."""
        published, failed = [], []
        for message in batch:
            try:
                key, future = self._publish(client, destination, message)
            except Exception as exc:
                failed.append(Failure(message, exc))
            else:
                published.append((message, key, asyncio.wrap_future(future)))
        results = await asyncio.gather(*[f for _, _, f in published], return_exceptions=True)
        keys = set()
        for (message, key, _), result in zip(published, results, strict=True):
            if isinstance(result, BaseException):
                failed.append(Failure(message, result))
                keys.add(key)
        for key in sorted(keys - {""}):
            self._resume(client, destination, key)
        return SendResult(failed)

    def _publish(self, client: Any, topic: str, message: OutgoingMessage) -> tuple[str, Any]:
        key = self._ordering_key_for(message.event)
        future = client.publish(topic, message.body, ordering_key=key, **message.attributes)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return key, future

    def _ordering_key_for(self, event: Event) -> str:
        key = self.ordering_key(event) if callable(self.ordering_key) else self.ordering_key
        if key is None:
            return ""
        if not isinstance(key, str):
            raise TypeError(
                f"ordering_key must give a str or None, got {type(key).__name__} for event "
                f"{capped_repr(event.key)}"
            )
        return key

    def _resume(self, client: Any, topic: str, key: str) -> None:
        try:
            client.resume_publish(topic, key)
        except Exception:  # a stopped client: nothing left to resume
            self.log.warning("could not resume ordering key %s on %s", capped_repr(key), topic)

    async def disconnect(self, client: Any) -> None:
        """Flush: stop the client it created, wait for unconfirmed publishes, close the channel."""
        pending = list(self._pending)
        if self._owns_client:
            await asyncio.to_thread(client.stop)
        if pending:
            waiting = [asyncio.wrap_future(future) for future in pending]
            _, late = await asyncio.wait(waiting, timeout=self.close_timeout)
            if late:
                self.log.warning(
                    "%d message(s) to %s still unconfirmed after %ss at shutdown",
                    len(late),
                    self.topic_path,
                    self.close_timeout,
                )
        if self._owns_client:
            client.transport.close()


def _check_attributes(attributes: Mapping[str, object]) -> None:
    """Check Pub/Sub's attribute limits, so one bad event never fails its whole batch."""
    if len(attributes) > _MAX_ATTRIBUTES:
        raise ValueError(f"{len(attributes)} attributes, Pub/Sub allows {_MAX_ATTRIBUTES}")
    for key, value in attributes.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"attribute {capped_repr(key)}: keys and values must be str, got "
                f"{type(key).__name__} and {type(value).__name__}"
            )
        if key.startswith("goog") or not 0 < len(key.encode()) <= _MAX_KEY_BYTES:
            raise ValueError(
                f"attribute key {capped_repr(key)}: 1-{_MAX_KEY_BYTES} bytes, no 'goog' prefix"
            )
        if len(value.encode()) > _MAX_VALUE_BYTES:
            raise ValueError(
                f"attribute {capped_repr(key)}: value of {len(value.encode())} bytes, over "
                f"{_MAX_VALUE_BYTES}"
            )
