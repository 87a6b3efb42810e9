"""isolated_registrations(): a test's registrations are undone, earlier ones kept."""

from __future__ import annotations

from pydantic import BaseModel

from fastapi_events import Event
from fastapi_events._observers import dispatch_observers
from fastapi_events.handlers.local import LocalHandler, local_handler
from fastapi_events.registry.base import BaseEventPayloadSchemaRegistry
from fastapi_events.registry.payload_schema import registry
from fastapi_events.testing import EventCapture, isolated_registrations


class Payload(BaseModel):
    n: int


async def on_event(event: Event) -> None:
    """A handler to register."""


def test_undoes_registrations_made_inside() -> None:
    """Functions and schemas registered inside the block are gone after it."""
    with isolated_registrations():
        local_handler.register(on_event, event_name="iso.inside")
        registry.register(Payload, event_name="iso.inside")
        assert local_handler.matching("iso.inside")
    assert local_handler.matching("iso.inside") == ()
    assert "iso.inside" not in registry


def test_keeps_registrations_made_before() -> None:
    """What was registered before the block is still there inside it and after it."""
    local_handler.register(on_event, event_name="iso.before")
    registry.register(Payload, event_name="iso.before")
    with isolated_registrations():
        local_handler.unregister_all()
        registry.clear()
    assert len(local_handler.matching("iso.before")) == 1
    assert registry["iso.before"] is Payload


def test_covers_the_handlers_and_registries_given() -> None:
    """Other LocalHandler and registry instances can be isolated too."""
    handler, schemas = LocalHandler(), BaseEventPayloadSchemaRegistry()
    with isolated_registrations(handlers=[handler], registries=[schemas]):
        handler.register(on_event, event_name="own")
        schemas["own"] = Payload
    assert (handler.matching("own"), len(schemas)) == ((), 0)


def test_removes_observers_left_active() -> None:
    """A capture started and never stopped inside the block stops observing after it."""
    with isolated_registrations():
        capture = EventCapture()
        capture.start()
    assert capture._observer not in dispatch_observers
    capture.stop()  # still safe to call
