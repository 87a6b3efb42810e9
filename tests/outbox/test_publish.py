"""The relay's backoff and the last_error text it stores."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from fastapi_events.outbox._publish import Backoff, describe_error


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0), (7, 15.0, 30.0), (500, 15.0, 30.0)],
)
def test_backoff_doubles_per_attempt_with_jitter_up_to_its_cap(
    attempts: int, low: float, high: float
) -> None:
    """Between half and all of min(cap, base * 2 ** (attempts - 1)) seconds."""
    delays = [Backoff(base=1.0, cap=30.0).delay(attempts) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) > 1  # jittered


class Card(BaseModel):
    number: int


def test_last_error_names_the_type_and_caps_the_message() -> None:
    """The qualified type and at most a few hundred characters of the message."""
    text = describe_error(ConnectionError("x" * 5000))
    assert text.startswith("builtins.ConnectionError: xxx")
    assert len(text) < 600 and "[5000 chars]" in text
    assert describe_error(TimeoutError()) == "builtins.TimeoutError"


def test_last_error_of_a_validation_error_never_quotes_the_input() -> None:
    """A pydantic ValidationError is described by field paths and types, not its text."""
    try:
        Card.model_validate({"number": "4111-1111-secret"})
    except ValidationError as exc:
        text = describe_error(exc)
    assert "number: int_parsing (got str)" in text
    assert "4111" not in text
