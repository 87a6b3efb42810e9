"""Capped reprs, type-only descriptions, field paths, pydantic errors without their input."""

from __future__ import annotations

import enum

import pydantic
import pytest

from fastapi_events._redact import (
    MAX_ECHO,
    capped_repr,
    capped_text,
    describe,
    describe_validation_error,
    field_path,
    sized,
)
from tests.leaks import Opaque, secret


class Color(enum.Enum):
    RED = "red"


class Card(pydantic.BaseModel):
    number: int
    holder: str


class Order(pydantic.BaseModel):
    cards: list[Card]


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize("value", ["x" * 2**20, b"x" * 2**20, bytearray(2**20), ["x" * 2**20]])
def test_capped_repr_of_a_huge_value_is_short_and_says_its_size(value: object) -> None:
    """A 1 MiB str, bytes or list renders in a few hundred characters."""
    text = capped_repr(value)
    assert len(text) <= MAX_ECHO + 40
    if not isinstance(value, list):
        assert str(2**20) in text


@pytest.mark.parametrize("value", ["user.created", b"abc", 42, None, Color.RED, ("a", 1)])
def test_capped_repr_of_a_short_value_is_its_repr(value: object) -> None:
    """Short values render exactly as repr() does."""
    assert capped_repr(value) == repr(value)


def test_capped_repr_survives_a_broken_repr() -> None:
    """A __repr__ that raises gives the type name, never a second error."""
    assert capped_repr(BrokenRepr()).startswith("<BrokenRepr ")
    assert capped_repr(10**5000) == "<int object>"  # too many digits for repr()


def test_capped_text_keeps_short_text_and_cuts_long_text() -> None:
    """Text over the limit keeps its head and states its length."""
    assert capped_text("short") == "short"
    assert capped_text("y" * 1000) == "y" * MAX_ECHO + "...[1000 chars]"


def test_describe_shows_scalars_and_only_the_type_of_anything_else() -> None:
    """A name-like scalar is shown; a container or object, possibly a payload, is not."""
    marker = secret()
    assert describe(42) == "42 (int)"
    assert describe(b"name") == "b'name' (bytes)"
    assert describe({"card": marker}) == "a value of type dict"
    assert describe(Opaque(marker)) == "a value of type Opaque"


def test_sized_names_type_and_size_only() -> None:
    """A body is described by its type and length, never its content."""
    assert sized(secret()) == "a str value of 43 characters"
    assert sized(b"abc") == "a bytes value of 3 bytes"


def test_field_path_renders_names_indexes_and_odd_keys() -> None:
    """Identifiers join with dots, indexes in brackets, other keys as capped reprs."""
    assert field_path(("cards", 0, "number")) == "cards[0].number"
    assert field_path((1, "x y"), "$") == "$[1]['x y']"
    assert field_path(()) == "<root>"
    assert len(field_path(("k" * 10_000,) * 50)) <= 2 * MAX_ECHO + 40


def test_validation_error_is_described_by_paths_types_and_input_types() -> None:
    """Field paths, error types and input types; never the input itself."""
    marker = secret()
    with pytest.raises(pydantic.ValidationError) as info:
        Order.model_validate({"cards": [{"number": marker, "holder": 7}]})
    text = describe_validation_error(info.value)
    assert text == (
        "2 validation error(s) for Order: cards[0].number: int_parsing (got str); "
        "cards[0].holder: string_type (got int)"
    )
    assert marker in str(info.value)  # what the summary replaces


def test_validation_error_summary_lists_a_few_and_counts_the_rest() -> None:
    """Many errors: the first five are listed, the others counted."""
    with pytest.raises(pydantic.ValidationError) as info:
        Order.model_validate({"cards": [{}] * 10})
    text = describe_validation_error(info.value)
    assert text is not None and text.endswith("; and 15 more") and len(text) < 500


def test_other_exceptions_have_no_validation_summary() -> None:
    """Anything but a pydantic ValidationError gives None."""
    assert describe_validation_error(ValueError("x")) is None
