"""SNS HTTP(S) subscriptions: notifications, and the subscription messages handed to you.

SNS POSTs a JSON document (as ``text/plain``) with an ``x-amz-sns-message-type`` header.
A ``Notification`` holds what the SNS forwarder published: ``Message`` is the body,
``MessageAttributes`` the metadata. ``SubscriptionConfirmation`` and
``UnsubscribeConfirmation`` become a :class:`SNSSubscriptionMessage` for your callback:
nothing here ever fetches the URL a message names.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._event import Event
from .._redact import capped_repr
from ..consumers._events import event_from
from ..errors import IngressError, SerializationError
from ..serialization import decode
from ._fields import json_type, parse_time, require_object, require_string, where
from ._handling import Outcome

__all__ = [
    "NOTIFICATION",
    "SUBSCRIPTION_TYPES",
    "SNSSubscriptionCallback",
    "SNSSubscriptionMessage",
    "hand_over",
    "sns_message",
]

logger = logging.getLogger("fastapi_events.ingress")

NOTIFICATION = "Notification"
#: The SNS message types handed to ``on_sns_subscription``.
SUBSCRIPTION_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


@dataclass(frozen=True)
class SNSSubscriptionMessage:
    """A ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation`` SNS sent to the
    ingress, for the ``on_sns_subscription`` callback (after the verifier accepted it).

    Confirm a subscription you expect with your own AWS client and the token, never by
    fetching ``subscribe_url`` blindly::

        sns.confirm_subscription(TopicArn=message.topic_arn, Token=message.token)

    Attributes:
        type: ``"SubscriptionConfirmation"`` or ``"UnsubscribeConfirmation"``.
        topic_arn: the topic the subscription belongs to: check it is one you expect.
        token: the token ``ConfirmSubscription`` takes.
        message_id: SNS's id of this message.
        subscribe_url: the URL SNS says confirms the subscription (never fetched by us).
        timestamp: when SNS sent it (RFC 3339, as sent).
        message: SNS's human-readable text.
        raw: the whole JSON document, as sent (with its signature fields).

    .. versionadded:: 1.0
    """

    type: str
    topic_arn: str
    token: str
    message_id: str
    subscribe_url: str
    timestamp: str
    message: str
    raw: Mapping[str, Any] = field(repr=False)


#: ``on_sns_subscription(message)``, sync or async.
SNSSubscriptionCallback = Callable[[SNSSubscriptionMessage], Awaitable[None] | None]


def sns_message(body: Any, header_type: str) -> list[Event] | SNSSubscriptionMessage:
    """The event of a notification, or the subscription message.

    Raises:
        IngressError: the document is not an SNS message (the message names the field).
    """
    document = require_object(body, ())
    kind = require_string(document, "Type", ())
    if kind != header_type:
        raise IngressError("Type: differs from the x-amz-sns-message-type header")
    if kind == NOTIFICATION:
        return [_notification(document)]
    if kind in SUBSCRIPTION_TYPES:
        return _subscription(document, kind)
    raise IngressError(
        f"Type: expected {NOTIFICATION}, {' or '.join(SUBSCRIPTION_TYPES)} (an SNS message type)"
    )


def _notification(document: Mapping[str, Any]) -> Event:
    message_id = require_string(document, "MessageId", ())
    require_string(document, "TopicArn", ())
    if not isinstance(document.get("Message"), str):
        found = "missing" if "Message" not in document else f"got {json_type(document['Message'])}"
        raise IngressError(f"Message: expected a string, {found}")
    _check_attributes(document.get("MessageAttributes"))
    stamp = document.get("Timestamp")
    sent_at = parse_time(stamp, "Timestamp").timestamp() if isinstance(stamp, str) else None
    try:
        received = decode(document)
    except (SerializationError, RecursionError):  # RecursionError: nested too deep
        raise IngressError(
            "Message: not an event (expected the JSON array [name, payload] or a CloudEvent, "
            "with the SNS forwarder's message attributes)"
        ) from None
    return event_from(received, message_id, sent_at)


def _check_attributes(attributes: Any) -> None:
    path: tuple[object, ...] = ("MessageAttributes",)
    if attributes is None:
        return
    for name, attribute in require_object(attributes, path).items():
        item = require_object(attribute, (*path, name))
        require_string(item, "Type", (*path, name))
        if not isinstance(item.get("Value"), str):
            raise IngressError(f"{where((*path, name, 'Value'))}: expected a string")


def _subscription(document: Mapping[str, Any], kind: str) -> SNSSubscriptionMessage:
    def text(key: str) -> str:
        return require_string(document, key, ())

    note = document.get("Message")
    return SNSSubscriptionMessage(
        type=kind,
        topic_arn=text("TopicArn"),
        token=text("Token"),
        message_id=text("MessageId"),
        subscribe_url=text("SubscribeURL"),
        timestamp=text("Timestamp"),
        message=note if isinstance(note, str) else "",
        raw=document,
    )


async def hand_over(
    callback: SNSSubscriptionCallback | None, message: SNSSubscriptionMessage
) -> Outcome:
    """Give ``message`` to ``callback``: 200 once it returned, 500 if it raised (SNS
    sends it again); without a callback it is logged and ignored (200)."""
    if callback is None:
        logger.warning(
            "SNS %s for topic %s ignored: pass on_sns_subscription= to confirm it",
            message.type,
            capped_repr(message.topic_arn, 120),
        )
        return Outcome(200, {"ignored": message.type})
    try:
        result = callback(message)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("on_sns_subscription failed on an SNS %s", message.type)
        return Outcome(500, {"error": "on_sns_subscription failed"})
    return Outcome(200, {"accepted": message.type})
