"""The NATS side of :class:`~fastapi_events.consumers.nats.NATSConsumer`: connecting,
finding or creating its durable consumer, naming rules and message ids."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .._nats_headers import MSG_ID_HEADER, percent_decode
from .._redact import capped_repr
from ..errors import ConfigurationError, SerializationError

__all__ = [
    "bind_consumer",
    "check_consumer_config",
    "check_name",
    "message_id",
]

_NAME_FORBIDDEN = frozenset(" \t\r\n.*>/\\")


async def bind_consumer(consumer: Any, js: Any) -> Any:
    """The ``ConsumerInfo`` of ``consumer``'s durable, created if missing (explicit acks,
    its ``ack_wait``, no server-side delivery limit, its ``subject`` as filter, then its
    ``consumer_config``).

    Raises:
        ConfigurationError: the durable exists and does not acknowledge explicitly.
    """
    api = consumer._nats.js.api
    try:
        info = await js.consumer_info(consumer.stream, consumer.durable)
    except consumer._nats.js.errors.NotFoundError:
        config = {
            "ack_policy": api.AckPolicy.EXPLICIT,
            "ack_wait": consumer.ack_wait,
            "max_deliver": -1,  # dead-lettering is the consumer's, after max_deliveries
            "filter_subject": consumer.subject,
            **consumer.consumer_config,
            "durable_name": consumer.durable,
        }
        info = await js.add_consumer(consumer.stream, api.ConsumerConfig(**config))
    if info.config.ack_policy != api.AckPolicy.EXPLICIT:
        raise ConfigurationError(
            f"{consumer.describe()}: the consumer's ack policy is "
            f"{capped_repr(str(info.config.ack_policy))}, not explicit; use a consumer with "
            "ack_policy=explicit (a new durable name creates one)"
        )
    return info


def check_consumer_config(nats: ModuleType, extra: Any) -> dict[str, Any]:
    """``consumer_config`` as a dict of ``ConsumerConfig`` fields."""
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise ConfigurationError(
            f"consumer_config must be a mapping of ConsumerConfig fields, got "
            f"{type(extra).__name__}; pass e.g. consumer_config={{'max_ack_pending': 100}}"
        )
    fields = nats.js.api.ConsumerConfig.__dataclass_fields__
    unknown = sorted(str(key) for key in extra if key not in fields)
    if unknown:
        raise ConfigurationError(
            f"consumer_config has fields ConsumerConfig does not know: "
            f"{capped_repr(', '.join(unknown))}"
        )
    return dict(extra)


def message_id(msg: Any, sequence: int) -> str:
    """The ``Nats-Msg-Id`` the publisher gave (the forwarder's: the event id), else the
    message's stream sequence: the same across redeliveries."""
    headers = msg.headers
    if headers:
        given = headers.get(MSG_ID_HEADER)
        if given:
            with contextlib.suppress(SerializationError):
                return percent_decode(str(given))
    return str(sequence)


def check_name(name: str, value: Any) -> None:
    """A stream or consumer name: a non-empty str without whitespace, ``.``, ``*``, ``>``
    or path separators (JetStream's rules)."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a str, got {type(value).__name__}")
    if not value or _NAME_FORBIDDEN & set(value):
        raise ConfigurationError(
            f"{name} must be a non-empty name without whitespace, '.', '*', '>', '/' or "
            f"'\\', got {capped_repr(value)}"
        )
