"""Building SQS SendMessageBatch entries from events: body, attributes, FIFO fields, size."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._event import Event
from .._redact import capped_repr
from ..errors import ConfigurationError
from ..serialization import MessageFormat, SerializationError, Serializer, encode
from ._outgoing import OutgoingMessage

__all__ = ["MAX_ATTRIBUTES", "EntryBuilder", "SQSEntry", "check_queue", "unique_id"]

#: SQS takes at most 10 attributes per message.
MAX_ATTRIBUTES = 10
#: Trace attributes are dropped, least useful first, when the 10-attribute cap is reached.
_OPTIONAL_ATTRIBUTES = ("tracestate", "traceparent")


@dataclass(frozen=True, slots=True)
class SQSEntry(OutgoingMessage):
    """One event's message, its batch entry id and its size as SQS counts it (body plus
    attributes)."""

    entry_id: str
    entry_size: int


@dataclass(frozen=True, slots=True)
class EntryBuilder:
    """Turns events into entries with one forwarder's settings."""

    serializer: Serializer | MessageFormat | None
    id_generator: Callable[[], str] | None
    message_group_id: str | Callable[[Event], str] | None
    attributes: Mapping[str, str] | Callable[[Event], Mapping[str, str]] | None

    def build(self, event: Event) -> SQSEntry:
        """Return the entry for ``event``.

        Raises:
            SerializationError: the body or the attributes cannot be made.
        """
        message = encode(event, self.serializer)
        try:
            message.body.decode()
        except UnicodeDecodeError as exc:
            raise SerializationError(
                "SQS message bodies are text: the serializer returned bytes that are not "
                "UTF-8; encode binary data (base64) in the serializer"
            ) from exc
        attributes = self._attributes_for(event, message.attributes)
        size = len(message.body) + sum(
            len(k.encode()) + 6 + len(v.encode()) for k, v in attributes.items()
        )
        entry_id = self.id_generator() if self.id_generator else event.id
        return SQSEntry(event, message.body, attributes, entry_id, size)

    def request(self, entry: SQSEntry, entry_id: str, fifo: bool) -> dict[str, Any]:
        """The SendMessageBatch entry of ``entry`` (FIFO fields for a FIFO queue).

        Raises:
            ConfigurationError: the message group function gave no usable group.
        """
        request: dict[str, Any] = {
            "Id": entry_id,
            "MessageBody": entry.body.decode(),
            "MessageAttributes": {
                k: {"DataType": "String", "StringValue": v} for k, v in entry.attributes.items()
            },
        }
        if fifo:
            request["MessageGroupId"] = self._group_for(entry.event)
            request["MessageDeduplicationId"] = entry.event.id
        return request

    def _attributes_for(self, event: Event, ours: Mapping[str, str]) -> dict[str, str]:
        extra = self.attributes(event) if callable(self.attributes) else (self.attributes or {})
        attributes = {**extra, **ours}
        for optional in _OPTIONAL_ATTRIBUTES:
            if len(attributes) <= MAX_ATTRIBUTES:
                break
            attributes.pop(optional, None)
        if len(attributes) > MAX_ATTRIBUTES:
            raise SerializationError(
                f"{len(attributes)} message attributes ({capped_repr(sorted(attributes))}), "
                f"SQS allows "
                f"{MAX_ATTRIBUTES}; pass fewer attributes="
            )
        return attributes

    def _group_for(self, event: Event) -> str:
        group = self.message_group_id
        if group is None:
            raise ConfigurationError(
                "this queue is a FIFO queue (URL ending in .fifo): pass message_group_id="
            )
        value = group(event) if callable(group) else group
        if not isinstance(value, str) or not value:
            got = "an empty str" if isinstance(value, str) else type(value).__name__
            raise ConfigurationError(
                f"message_group_id must give a non-empty str, got {got} for event "
                f"{capped_repr(event.key)}"
            )
        return value


def unique_id(entry_id: str, taken: Mapping[str, object]) -> str:
    """``entry_id``, or a variant of it not in ``taken`` (SQS rejects a whole batch with a
    repeated id, as an ``id_generator`` may give)."""
    unique = entry_id
    while unique in taken:
        unique = f"{entry_id}_{len(taken)}_{len(unique)}"
    return unique


def check_queue(queue_url: object, is_fifo: bool, group: object) -> None:
    """Check the queue URL, and that a message group is given exactly for FIFO queues.

    Raises:
        ConfigurationError: the URL is not a non-empty str, or the group does not fit.
    """
    url = capped_repr(queue_url)
    if callable(queue_url):
        return  # each destination's kind is known per event
    if not isinstance(queue_url, str) or not queue_url:
        raise ConfigurationError(
            f"queue_url must be the queue's URL or a function (event) -> URL, got {url}"
        )
    if is_fifo and group is None:
        raise ConfigurationError(
            f"{url} is a FIFO queue: pass message_group_id= (a str, or a function "
            f"of the event returning one)"
        )
    if group is not None and not is_fifo:
        raise ConfigurationError(
            f"message_group_id= applies to FIFO queues (URL ending in .fifo), got {url}"
        )
