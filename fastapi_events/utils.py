"""Small public helpers kept from fastapi-events 0.12."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from ._redact import capped_repr

__all__ = ["chunk", "strtobool"]

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def chunk(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield successive lists of at most ``size`` items from ``iterable``.

    Raises:
        ValueError: ``size`` is smaller than 1.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {capped_repr(size)}")
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def strtobool(value: str) -> bool:
    """Parse a boolean the way environment variables spell it, in any case.

    Raises:
        ValueError: ``value`` is not one of 1/0, true/false, yes/no, on/off, y/n, t/f.
    """
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(
        f"invalid truth value {capped_repr(value)}: "
        "use one of 1/0, true/false, yes/no, on/off, y/n, t/f"
    )
