"""Checking :class:`~fastapi_events.consumers.kafka.KafkaConsumer`'s options and building
its aiokafka consumer, retry producer and rebalance listener."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from .._checks import check_text
from .._redact import describe
from ..errors import ConfigurationError

__all__ = ["ORDERINGS", "check_topics", "consumer_config", "rebalance_listener"]

#: The values of ``ordering=``.
ORDERINGS = ("partition", "key", None)
_START_FROM = ("earliest", "latest")
# What the consumer decides itself: its group, manual commits, and records as bytes.
_RESERVED = frozenset({"group_id", "enable_auto_commit", "key_deserializer", "value_deserializer"})


def check_topics(topics: object) -> list[str]:
    """The topic names of ``topics=``: a name or a non-empty list of names."""
    if isinstance(topics, str):
        return [check_text("topics", topics)]
    if not isinstance(topics, Sequence) or isinstance(topics, bytes) or not topics:
        raise ConfigurationError(
            "topics must be a topic name or a non-empty list of topic names, "
            f"got {describe(topics)}"
        )
    return [check_text("each topic", topic) for topic in topics]


def check_choice(label: str, value: object, choices: Sequence[object]) -> None:
    """ConfigurationError unless ``value`` is one of ``choices``."""
    if value not in choices or isinstance(value, bool):
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ConfigurationError(f"{label} must be one of {allowed}, got {describe(value)}")


def consumer_config(
    bootstrap_servers: str | Sequence[str],
    client_id: str,
    group: str,
    start_from: str,
    options: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``AIOKafkaConsumer`` keywords: ours, then ``consumer_options``.

    Raises:
        ConfigurationError: ``options`` sets what the consumer decides itself.
    """
    check_choice("start_from", start_from, _START_FROM)
    if options is not None and not isinstance(options, Mapping):
        raise ConfigurationError(f"consumer_options must be a mapping, got {describe(options)}")
    reserved = sorted(_RESERVED & set(options or ()))
    if reserved:
        raise ConfigurationError(
            f"consumer_options cannot set {', '.join(reserved)}: the consumer commits "
            "itself, for its group=, and reads records as bytes"
        )
    return {
        "bootstrap_servers": bootstrap_servers,
        "client_id": client_id,
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": start_from,
        **(options or {}),
    }


def rebalance_listener(
    aiokafka: ModuleType,
    revoked: Callable[[set[Any]], Awaitable[None]],
) -> Any:
    """An aiokafka ``ConsumerRebalanceListener`` calling ``revoked(partitions)``."""
    base: Any = aiokafka.ConsumerRebalanceListener

    class Listener(base):  # type: ignore[misc]
        async def on_partitions_revoked(self, partitions: set[Any]) -> None:
            await revoked(set(partitions))

        async def on_partitions_assigned(self, partitions: set[Any]) -> None:
            pass  # each partition's track starts with its first record

    return Listener()
