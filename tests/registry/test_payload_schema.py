"""The payload schema registry: decorator forms and the checks on every way in."""

from __future__ import annotations

import enum
from typing import ClassVar

import pydantic
import pytest

from fastapi_events.errors import ConfigurationError, MissingEventNameDuringRegistration
from fastapi_events.registry.payload_schema import EventPayloadSchemaRegistry


class Names(str, enum.Enum):
    PAID = "order.paid"


class Paid(pydantic.BaseModel):
    __event_name__: ClassVar[str] = "order.paid"
    amount: int


class Refunded(pydantic.BaseModel):
    __event_name__: ClassVar[str] = "order.refunded"
    amount: int


def test_register_with_event_name_returns_the_class() -> None:
    """@register(event_name=...) stores the class under that name and returns it."""
    reg = EventPayloadSchemaRegistry()
    decorated = reg.register(event_name="order.created")(Paid)
    assert decorated is Paid
    assert reg["order.created"] is Paid


def test_bare_register_uses_the_class_event_name() -> None:
    """@register without arguments uses __event_name__."""
    reg = EventPayloadSchemaRegistry()
    reg.register(Paid)
    assert dict(reg) == {"order.paid": Paid}


def test_enum_names_are_keys_by_value() -> None:
    """An Enum name registers and looks up by its value."""
    reg = EventPayloadSchemaRegistry()
    reg.register(event_name=Names.PAID)(Paid)
    assert reg["order.paid"] is Paid and reg[Names.PAID] is Paid


def test_missing_name_is_an_error_naming_the_class() -> None:
    """No event_name and no __event_name__: the error names the class and the fix."""

    class Nameless(pydantic.BaseModel):
        x: int

    with pytest.raises(MissingEventNameDuringRegistration, match=r"Nameless"):
        EventPayloadSchemaRegistry().register(Nameless)


@pytest.mark.parametrize("way", ["decorator", "bare", "setitem"])
def test_non_pydantic_classes_are_rejected_on_every_path(way: str) -> None:
    """A plain class is rejected by register(...), bare register and item assignment."""

    class Plain:
        __event_name__ = "plain"

    reg = EventPayloadSchemaRegistry()
    with pytest.raises(ConfigurationError, match=r"Plain.*BaseModel"):
        if way == "decorator":
            reg.register(event_name="plain")(Plain)
        elif way == "bare":
            reg.register(Plain)
        else:
            reg["plain"] = Plain  # type: ignore[assignment]
    assert len(reg) == 0


def test_reusing_one_decorator_object_does_not_rebind_names() -> None:
    """A bare decorator reused for two classes registers each under its own name."""
    reg = EventPayloadSchemaRegistry()
    decorator = reg.register
    decorator(Paid)
    decorator(Refunded)
    assert dict(reg) == {"order.paid": Paid, "order.refunded": Refunded}
    named = reg.register(event_name="x")
    named(Paid)
    assert reg["x"] is Paid and reg["order.refunded"] is Refunded
