"""Building SQS and SNS batch entries from events: body, attributes, FIFO fields, size.

Both services take the same entry shape (an id, a text body, up to 10 string attributes, a
group and a deduplication id for FIFO destinations) and count a message's size the same
way (body plus each attribute's name, type and value); :class:`Wire` holds what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._event import Event
from .._redact import capped_repr
from ..errors import ConfigurationError
from ..serialization import MessageFormat, SerializationError, Serializer, encode
from ._outgoing import OutgoingMessage, given_name

__all__ = [
    "MAX_ATTRIBUTES",
    "SNS",
    "SQS",
    "AWSEntry",
    "EntryBuilder",
    "Wire",
    "check_fifo",
    "oversize_error",
    "unique_id",
]

#: SQS and SNS take at most 10 attributes per message.
MAX_ATTRIBUTES = 10
#: Attributes dropped, least useful first, when the 10-attribute cap is reached (without
#: ``event_time``, a consumer takes the broker's timestamp).
_OPTIONAL_ATTRIBUTES = ("tracestate", "event_time", "traceparent")
#: The data type every attribute is sent with (its length counts towards the size).
_STRING = "String"


@dataclass(frozen=True, slots=True)
class Wire:
    """What differs between SQS's and SNS's entries, and how errors name things."""

    service: str  # "SQS", in error messages
    body_field: str  # the entry's key for the body
    kind: str  # "queue", "topic"
    address: str  # "URL", "ARN"
    option: str  # the handler's argument naming the destination


SQS = Wire("SQS", "MessageBody", "queue", "URL", "queue_url")
SNS = Wire("SNS", "Message", "topic", "ARN", "topic_arn")


@dataclass(frozen=True, slots=True)
class AWSEntry(OutgoingMessage):
    """One event's message, its batch entry id and its size as SQS and SNS count it (body
    plus attributes)."""

    entry_id: str
    entry_size: int


@dataclass(frozen=True, slots=True)
class EntryBuilder:
    """Turns events into entries with one forwarder's settings."""

    wire: Wire
    serializer: Serializer | MessageFormat | None
    id_generator: Callable[[], str] | None
    message_group_id: str | Callable[[Event], str] | None
    attributes: Mapping[str, str] | Callable[[Event], Mapping[str, str]] | None

    def build(self, event: Event) -> AWSEntry:
        """Return the entry for ``event``.

        Raises:
            SerializationError: the body or the attributes cannot be made.
        """
        message = encode(event, self.serializer)
        try:
            message.body.decode()
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"{self.wire.service} message bodies are text: the serializer returned bytes "
                f"that are not UTF-8; encode binary data (base64) in the serializer"
            ) from exc
        attributes = self._attributes_for(event, message.attributes)
        size = len(message.body) + sum(
            len(k.encode()) + len(_STRING) + len(v.encode()) for k, v in attributes.items()
        )
        entry_id = self.id_generator() if self.id_generator else event.id
        return AWSEntry(event, message.body, attributes, entry_id, size)

    def request(self, entry: AWSEntry, entry_id: str, fifo: bool) -> dict[str, Any]:
        """The batch request entry of ``entry`` (FIFO fields for a FIFO destination).

        Raises:
            ConfigurationError: the message group function gave no usable group.
        """
        request: dict[str, Any] = {
            "Id": entry_id,
            self.wire.body_field: entry.body.decode(),
            "MessageAttributes": {
                k: {"DataType": _STRING, "StringValue": v} for k, v in entry.attributes.items()
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
                f"{self.wire.service} allows {MAX_ATTRIBUTES}; pass fewer attributes="
            )
        return attributes

    def _group_for(self, event: Event) -> str:
        group = self.message_group_id
        if group is None:
            kind, address = self.wire.kind, self.wire.address
            raise ConfigurationError(
                f"this {kind} is a FIFO {kind} ({address} ending in .fifo): pass message_group_id="
            )
        value = group(event) if callable(group) else group
        return given_name(value, "message_group_id", event)


def unique_id(entry_id: str, taken: Mapping[str, object]) -> str:
    """``entry_id``, or a variant of it not in ``taken`` (SQS and SNS reject a whole batch
    with a repeated id, as an ``id_generator`` may give)."""
    unique = entry_id
    while unique in taken:
        unique = f"{entry_id}_{len(taken)}_{len(unique)}"
    return unique


def oversize_error(size: int, limit: int, service: str, source: str = "") -> SerializationError:
    """The error for a message of ``size`` bytes over ``limit`` (``source``: where the limit
    comes from, if not the handler's ``max_bytes``)."""
    return SerializationError(
        f"the message is {size} bytes (body and attributes), over the {limit}-byte "
        f"{service} limit{source}; send a reference to the data instead"
    )


def check_fifo(destination: object, is_fifo: bool, group: object, wire: Wire) -> None:
    """Check a fixed destination, and that a message group is given exactly for FIFO ones.

    Raises:
        ConfigurationError: the destination is not a non-empty str, or the group does not
            fit.
    """
    if callable(destination):
        return  # each destination's kind is known per event
    shown, kind, address = capped_repr(destination), wire.kind, wire.address
    if not isinstance(destination, str) or not destination:
        raise ConfigurationError(
            f"{wire.option} must be the {kind}'s {address} or a function (event) -> "
            f"{address}, got {shown}"
        )
    if is_fifo and group is None:
        raise ConfigurationError(
            f"{shown} is a FIFO {kind}: pass message_group_id= (a str, or a function "
            f"of the event returning one)"
        )
    if group is not None and not is_fifo:
        raise ConfigurationError(
            f"message_group_id= applies to FIFO {kind}s ({address} ending in .fifo), got {shown}"
        )
