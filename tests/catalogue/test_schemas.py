"""Payload schemas: pydantic's JSON Schema made an AsyncAPI (draft 07) Schema Object."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fastapi_events.catalogue._schemas import SchemaSet, draft07
from fastapi_events.registry.payload_schema import EventPayloadSchemaRegistry
from tests.catalogue.kit import document_of

Parser = Callable[[dict[str, Any]], Any]


class Cat(BaseModel):
    """One side of a discriminated union."""

    kind: Literal["cat"] = "cat"


class Dog(BaseModel):
    """The other side."""

    kind: Literal["dog"] = "dog"


class Adopted(BaseModel):
    """Tuples, a discriminated union and fields named like JSON Schema keywords."""

    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    pair: tuple[int, str]
    discriminator: dict[str, int] = {"prefixItems": 1}
    prefixItems: list[int] = []  # a field named like the keyword


def test_tuples_and_discriminators_become_draft_07(asyncapi_parser: Parser) -> None:
    """prefixItems -> items array; the discriminator object -> x-discriminator; valid."""
    registry = EventPayloadSchemaRegistry()
    registry.register(Adopted, event_name="pet.adopted")
    document = document_of([], registry)
    schema = document["components"]["schemas"]["Adopted"]
    pair = schema["properties"]["pair"]
    assert pair["items"] == [{"type": "integer"}, {"type": "string"}]
    assert "prefixItems" not in pair
    pet = schema["properties"]["pet"]
    assert pet["x-discriminator"]["propertyName"] == "kind"
    assert "discriminator" not in pet
    assert set(document["components"]["schemas"]) == {"Adopted", "Cat", "Dog"}
    asyncapi_parser(document)


def test_keywords_are_rewritten_only_where_they_are_keywords() -> None:
    """Fields named discriminator/prefixItems and default values are left as they are."""
    schema = draft07(Adopted.model_json_schema(mode="serialization"))
    properties = schema["properties"]
    assert properties["discriminator"]["default"] == {"prefixItems": 1}
    assert properties["prefixItems"]["items"] == {"type": "integer"}
    assert "x-discriminator" not in schema


def test_nested_models_are_components_referenced_from_the_document() -> None:
    """Nested models are shared components; references point into components.schemas."""

    class Line(BaseModel):
        sku: str

    class Order(BaseModel):
        lines: list[Line]

    class Invoice(BaseModel):
        line: Line

    schemas = SchemaSet([Order, Invoice])
    assert schemas.refs[Order] == {"$ref": "#/components/schemas/Order"}
    assert set(schemas.components) == {"Order", "Invoice", "Line"}
    lines = schemas.components["Order"]["properties"]["lines"]
    assert lines["items"] == {"$ref": "#/components/schemas/Line"}


class Opaque:
    """A type pydantic cannot describe in JSON Schema."""


class Holder(BaseModel):
    """A model with an arbitrary type."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    thing: Opaque


def test_a_model_without_json_schema_is_described_and_the_others_kept(
    asyncapi_parser: Parser, caplog: Any
) -> None:
    """pydantic failing on one model logs a warning naming it; the document stays valid."""
    registry = EventPayloadSchemaRegistry()
    registry.register(Holder, event_name="held")
    registry.register(Cat, event_name="cat.seen")
    with caplog.at_level(logging.WARNING, logger="fastapi_events.catalogue._schemas"):
        document = document_of([], registry)
    payload = document["components"]["messages"]["held"]["payload"]
    assert payload == {
        "description": f"No JSON Schema: pydantic cannot describe {__name__}.Holder."
    }
    assert list(document["components"]["schemas"]) == ["Cat"]
    assert [r.getMessage() for r in caplog.records] == [
        f"no JSON Schema for {__name__}.Holder: pydantic raised PydanticInvalidForJsonSchema"
    ]
    asyncapi_parser(document)
