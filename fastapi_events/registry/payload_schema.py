"""The default payload schema registry that ``dispatch()`` consults."""

from __future__ import annotations

from .base import BaseEventPayloadSchemaRegistry

__all__ = ["EventPayloadSchemaRegistry", "registry"]


class EventPayloadSchemaRegistry(BaseEventPayloadSchemaRegistry):
    """The registry class of fastapi-events 0.12; ``registry`` is its default instance."""


#: The registry ``dispatch()`` uses unless ``payload_schema_registry=`` is given.
registry = EventPayloadSchemaRegistry()
