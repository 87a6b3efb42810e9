"""Models, handlers and look-ups the catalogue tests share."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from fastapi_events.catalogue import asyncapi_document
from fastapi_events.handlers.base import BaseEventHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.registry.payload_schema import EventPayloadSchemaRegistry

__all__ = [
    "Address",
    "Kind",
    "OrderPlaced",
    "UserCreated",
    "document_of",
    "local_handler_with",
    "operation_message_names",
    "schemas_registry",
]


class Kind(enum.Enum):
    """Event names as an Enum."""

    USER_CREATED = "user.created"


class Address(BaseModel):
    """Nested in a payload."""

    city: str


class UserCreated(BaseModel):
    """A user was created."""

    __event_name__ = Kind.USER_CREATED
    user_id: int
    address: Address | None = None


class OrderPlaced(BaseModel):
    """An order was placed."""

    order_id: int
    lines: tuple[str, int]


def schemas_registry() -> EventPayloadSchemaRegistry:
    """A registry with ``order.placed`` (by name) and ``user.created`` (``__event_name__``)."""
    registry = EventPayloadSchemaRegistry()
    registry.register(OrderPlaced, event_name="order.placed")
    registry.register(UserCreated)
    return registry


def document_of(
    handlers: Iterable[BaseEventHandler] = (), registry: Any = None, **options: Any
) -> dict[str, Any]:
    """The document of ``handlers`` (an empty registry unless one is given)."""
    chosen = EventPayloadSchemaRegistry() if registry is None else registry
    return asyncapi_document(list(handlers), registry=chosen, **options)


def operation_message_names(document: dict[str, Any], operation: str) -> list[str]:
    """The ``name`` of each message an operation lists (refs followed)."""
    names = []
    for ref in document["operations"][operation]["messages"]:
        _, _, channel, _, key = ref["$ref"].split("/")
        message = document["channels"][channel]["messages"][key]
        if "$ref" in message:
            message = document["components"]["messages"][message["$ref"].rsplit("/", 1)[-1]]
        names.append(message["name"])
    return names


def local_handler_with(*registrations: tuple[str, Any]) -> LocalHandler:
    """A LocalHandler with each ``(pattern, function)`` registered."""
    handler = LocalHandler()
    for pattern, function in registrations:
        handler.register(function, event_name=pattern)
    return handler
