"""Forward events to an AWS SNS topic (extra ``aws``).

Importing this module does not import boto3; constructing the handler does, and the
client is created at application startup or on the first event, never in ``__init__``.

Each event becomes one SNS message, published with ``PublishBatch`` (up to 10 per call):

- the message is the body, 0.12's JSON array ``["name", payload]`` by default (or a
  structured CloudEvent, or the payload of a binary one);
- the metadata are string message attributes: ``event_name``, ``event_id``,
  ``content_type``, ``correlation_id``, ``traceparent``, ``tracestate`` (see
  :mod:`fastapi_events.serialization`), or with binary CloudEvents ``ce-id``, ``ce-type``,
  ``ce-source``... and ``content-type``, named as SQS carries them.

An SQS queue subscribed with ``RawMessageDelivery`` receives exactly that message and those
attributes; without it, the SNS JSON envelope. :func:`fastapi_events.serialization.decode`
reads both back into the event.

.. versionadded:: 1.0
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from .._event import Event
from ..errors import SNSDeliveryError
from ..serialization import MessageFormat, Serializer
from ._aws_batch import AWSBatchForwarder, MessageAttributes, MessageGroupId
from ._aws_entries import SNS
from ._aws_limits import DEFAULT_LINGER, MAX_ENTRIES
from ._batching import RetryPolicy

__all__ = [
    "SNS_DEFAULT_MAX_BYTES",
    "RetryPolicy",
    "SNSDeliveryError",
    "SNSForwardHandler",
    "TopicArn",
]

#: SNS's limit per message and per PublishBatch request unless the topic's
#: ``MaximumMessageSize`` is raised (to at most 1 MiB): 256 KiB.
SNS_DEFAULT_MAX_BYTES = 256 * 1024
#: PublishBatch requests one handler runs at the same time (in worker threads, whose
#: botocore CPU work competes with the event loop for the GIL).
_MAX_IN_FLIGHT = 2
#: A topic ARN, or a function of the event giving one (routing by event).
TopicArn = str | Callable[[Event], str]


class SNSForwardHandler(AWSBatchForwarder):
    """Publish events to an SNS topic with PublishBatch, never blocking the event loop.

    Each event becomes one message whose body is ``serializer`` applied to the event
    (default: the JSON array ``["name", payload]``) and whose message attributes carry
    the metadata (name, id, content type, correlation id, trace context). Messages are
    batched by 10 and by ``max_bytes``; ``Failed`` entries without ``SenderFault``,
    throttling, 5xx and connection errors are retried with backoff; a batch SNS rejects
    whole for its contents is sent again in halves; anything that cannot be published is
    reported for its event only (an :class:`~fastapi_events.errors.SNSDeliveryError` or a
    :class:`~fastapi_events.errors.SerializationError`).

    Concurrent drains share PublishBatch requests: a drain's messages join the request
    being filled for their topic, sent when full or ``linger`` seconds after its first
    message; each drain still settles only its own events. FIFO topics are never shared.

    Args:
        topic_arn: the topic's ARN, or ``event -> ARN`` to route each event to its topic
            (events are grouped per topic, in order); a ``.fifo`` ARN needs
            ``message_group_id``.
        region_name: the region of the client (default: the region of a fixed
            ``topic_arn``, else boto3's configuration).
        serializer: ``(name, payload) -> str | bytes``, or a message format such as
            :class:`~fastapi_events.serialization.CloudEventsFormat`.
        max_batch_size: messages per PublishBatch, 1 to 10.
        max_bytes: limit per message and per batch, body plus attributes (default 256 KiB;
            up to 1 MiB for topics whose ``MaximumMessageSize`` was raised).
        message_group_id: FIFO group, a constant or ``event -> str``; the deduplication id
            is the event id, so a retried publish is not delivered twice.
        attributes: extra string attributes, constant or ``event -> mapping`` (ours win on
            a clash; 10 at most, trace attributes dropped first).
        retry: a :class:`RetryPolicy` for what failed transiently.
        linger: seconds a part-full request waits for other drains' messages, 0 to 1
            (default 0.01; ``0``: each drain's batches are published alone).
        **boto_client_kwargs: for ``boto3.client("sns", ...)``, e.g. ``endpoint_url``.

    Raises:
        ImportError: boto3 is not installed.
        ConfigurationError: an argument is out of range or inconsistent.

    Example::

        handler = SNSForwardHandler("arn:aws:sns:eu-west-1:123456789012:orders")
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    .. versionadded:: 1.0
    """

    messaging_system = "aws.sns"
    service = "sns"
    wire = SNS
    delivery_error = SNSDeliveryError
    log = logging.getLogger(__name__)

    def __init__(
        self,
        topic_arn: TopicArn,
        region_name: str | None = None,
        *,
        serializer: Serializer | MessageFormat | None = None,
        max_batch_size: int = MAX_ENTRIES,
        max_bytes: int = SNS_DEFAULT_MAX_BYTES,
        message_group_id: MessageGroupId | None = None,
        attributes: MessageAttributes | None = None,
        retry: RetryPolicy | None = None,
        linger: float = DEFAULT_LINGER,
        **boto_client_kwargs: Any,
    ) -> None:
        super().__init__(
            topic_arn,
            region_name or _region_of(topic_arn),
            serializer=serializer,
            id_generator=None,
            max_batch_size=max_batch_size,
            max_bytes=max_bytes,
            message_group_id=message_group_id,
            attributes=attributes,
            retry=retry,
            boto_client_kwargs=boto_client_kwargs,
            limit_hint="keep 262144 unless the topic's MaximumMessageSize was raised",
            max_in_flight=_MAX_IN_FLIGHT,
            linger=linger,
        )
        self.topic_arn = topic_arn

    async def ping(self, client: Any) -> None:
        """Read the topic's attributes (list topics, for a routed handler)."""
        if isinstance(self.topic_arn, str):
            await self._call(client.get_topic_attributes, TopicArn=self.topic_arn)
        else:
            await self._call(client.list_topics)

    def _batch_call(
        self, client: Any, destination: str, requests: list[dict[str, Any]]
    ) -> Callable[[], Any]:
        return functools.partial(
            client.publish_batch, TopicArn=destination, PublishBatchRequestEntries=requests
        )


def _region_of(topic_arn: object) -> str | None:
    """The region of ``arn:aws:sns:REGION:ACCOUNT:NAME`` (None for anything else)."""
    if not isinstance(topic_arn, str):
        return None
    parts = topic_arn.split(":")
    return parts[3] or None if len(parts) >= 6 and parts[0] == "arn" else None
