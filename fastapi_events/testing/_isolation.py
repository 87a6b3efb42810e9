"""Snapshots of the module-level registrations, restored after a test."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .._observers import dispatch_observers
from ..handlers.local import LocalHandler, local_handler
from ..registry.base import BaseEventPayloadSchemaRegistry
from ..registry.payload_schema import registry

__all__ = ["isolated_registrations"]


@contextmanager
def isolated_registrations(
    handlers: Iterable[LocalHandler] = (local_handler,),
    registries: Iterable[BaseEventPayloadSchemaRegistry] = (registry,),
) -> Iterator[None]:
    """Restore the functions registered on ``handlers`` and the schemas of ``registries``
    at the end of the block, as they were at its start (default: ``local_handler`` and
    the default schema registry).

    Registrations made inside the block are undone; those made before stay in place
    throughout. Dispatch observers (captures, mutes) left active are removed. Caveat: a
    module first imported inside the block, whose import registered handlers, loses those
    registrations for good (the module is not imported again).

    Example::

        with isolated_registrations():
            local_handler.register(on_test_event, event_name="test.*")
            ...
        # on_test_event is unregistered again

    .. versionadded:: 1.0
    """
    handler_snapshots = [(h, h.snapshot()) for h in handlers]
    registry_snapshots = [(r, dict(r)) for r in registries]
    observers = list(dispatch_observers)
    try:
        yield
    finally:
        for handler, snapshot in handler_snapshots:
            handler.restore(snapshot)
        for schema_registry, schemas in registry_snapshots:
            schema_registry.clear()
            schema_registry.update(schemas)
        dispatch_observers[:] = observers
