"""Payload schemas: pydantic models registered per event name, validated at dispatch."""

from __future__ import annotations

from .base import BaseEventPayloadSchemaRegistry
from .payload_schema import EventPayloadSchemaRegistry, registry

__all__ = ["BaseEventPayloadSchemaRegistry", "EventPayloadSchemaRegistry", "registry"]
