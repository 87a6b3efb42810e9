"""What a document says besides the handlers: its info, registry, models, consumers and
ingresses (see :class:`~fastapi_events.catalogue.EventCatalogue`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._ingresses import ServedIngress

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """The options of :class:`~fastapi_events.catalogue.EventCatalogue`, checked."""

    title: str = "Events"
    version: str = "1.0.0"
    description: str | None = None
    registry: Mapping[str, type] | None = None
    models: tuple[type, ...] = ()
    consumers: tuple[Any, ...] = ()
    servers: Mapping[str, Any] | None = None
    ingresses: tuple[ServedIngress, ...] = ()

    def schema_registry(self) -> Mapping[str, type]:
        """``registry``, else the payload schema registry ``dispatch()`` uses."""
        if self.registry is not None:
            return self.registry
        from ..registry.payload_schema import registry

        return registry
