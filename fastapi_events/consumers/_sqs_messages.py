"""What the SQS consumer's two transports share: the ReceiveMessage request, messages as
boto3 gives them, the entries of its batch calls, and its argument checks."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

from .._redact import capped_repr
from ..errors import ConfigurationError
from ._delivery import Delivery

__all__ = [
    "MAX_ENTRIES",
    "MAX_VISIBILITY_TIMEOUT",
    "as_boto3",
    "check_int",
    "chunks",
    "delay_entries",
    "delete_entries",
    "delivery",
    "give_back_entries",
]

MAX_ENTRIES = 10  # per ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch
#: SQS's largest visibility timeout (12 hours): the longest retry delay it can express.
MAX_VISIBILITY_TIMEOUT = 43_200


def as_boto3(message: dict[str, Any]) -> dict[str, Any]:
    """A message of SQS's JSON answer as boto3 returns it (``BinaryValue`` as bytes)."""
    for attribute in (message.get("MessageAttributes") or {}).values():
        value = attribute.get("BinaryValue")
        if isinstance(value, str):
            attribute["BinaryValue"] = base64.b64decode(value)
    return message


def delivery(message: dict[str, Any]) -> Delivery:
    """The :class:`Delivery` of a received message."""
    attributes = message.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    return Delivery(
        message,
        str(message.get("MessageId", "")),
        int(attributes.get("ApproximateReceiveCount", 1)),
        message["ReceiptHandle"],
        int(sent) / 1000 if sent else None,
    )


def give_back_entries(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """ChangeMessageVisibilityBatch entries making ``messages`` (at most 10) visible now."""
    return [
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
        for i, m in enumerate(messages)
    ]


def delete_entries(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    """DeleteMessageBatch entries for ``deliveries`` (at most 10)."""
    return [{"Id": str(i), "ReceiptHandle": d.receipt} for i, d in enumerate(deliveries)]


def delay_entries(retries: Sequence[tuple[Delivery, float]]) -> list[dict[str, Any]]:
    """ChangeMessageVisibilityBatch entries hiding each delivery for its delay (whole
    seconds, at most 12 hours)."""
    return [
        {
            "Id": str(i),
            "ReceiptHandle": delivery.receipt,
            "VisibilityTimeout": min(MAX_VISIBILITY_TIMEOUT, max(0, round(delay))),
        }
        for i, (delivery, delay) in enumerate(retries)
    ]


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``items`` by 10 (SQS's batch limit)."""
    for start in range(0, len(items), MAX_ENTRIES):
        yield items[start : start + MAX_ENTRIES]


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """Raise ConfigurationError unless ``value`` is an int from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be an int from {low} to {high} (SQS limits), got {capped_repr(value)}"
        )
