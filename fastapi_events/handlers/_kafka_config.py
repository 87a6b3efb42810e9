"""Checking :class:`~fastapi_events.handlers.kafka.KafkaForwardHandler`'s options and
building its producer's configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._redact import capped_repr
from ..errors import ConfigurationError

__all__ = ["check_record_options", "producer_config"]

# What the handler decides itself: the records are bytes, and sends are not transactions.
_RESERVED_OPTIONS = frozenset({"key_serializer", "value_serializer", "transactional_id"})


def producer_config(
    bootstrap_servers: str | Sequence[str],
    client_id: str,
    idempotent: bool,
    linger_ms: int,
    request_timeout_ms: int,
    producer_options: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``AIOKafkaProducer`` keywords: ours, then ``producer_options``.

    Raises:
        ConfigurationError: an option is out of range, reserved, or ``acks`` is not
            ``"all"`` for an idempotent producer.
    """
    _check_int("linger_ms", linger_ms, 0)
    _check_int("request_timeout_ms", request_timeout_ms, 1)
    reserved = sorted(_RESERVED_OPTIONS & set(producer_options or ()))
    if reserved:
        raise ConfigurationError(
            f"producer_options cannot set {', '.join(reserved)}: the handler sends bytes "
            "(use serializer=) outside transactions"
        )
    config = {
        "bootstrap_servers": bootstrap_servers,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": idempotent,
        "linger_ms": linger_ms,
        "request_timeout_ms": request_timeout_ms,
        **(producer_options or {}),
    }
    if config["enable_idempotence"] and config["acks"] not in ("all", -1):
        raise ConfigurationError(
            f"an idempotent producer needs acks='all', got {capped_repr(config['acks'])}; "
            "pass idempotent=False for other acks"
        )
    return config


def check_record_options(key: object, headers: object) -> None:
    """Check ``key=`` and ``headers=``.

    Raises:
        ConfigurationError: either has the wrong type.
    """
    if key is not None and not (isinstance(key, (str, bytes)) or callable(key)):
        raise ConfigurationError(
            "key must be a str, bytes or a function (event) -> str | bytes | None, "
            f"got {capped_repr(key)}"
        )
    if headers is not None and not (isinstance(headers, Mapping) or callable(headers)):
        raise ConfigurationError(
            "headers must be a mapping or a function (event) -> mapping, "
            f"got {capped_repr(headers)}"
        )


def _check_int(label: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{label} must be an int >= {minimum}, got {capped_repr(value)}")
