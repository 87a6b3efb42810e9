"""Checking the relay's numeric options once, at construction."""

from __future__ import annotations

import math
from typing import Any

from .._redact import capped_repr
from ..errors import ConfigurationError

__all__ = ["check_count", "check_seconds"]


def check_count(name: str, value: Any) -> int:
    """``value`` if it is an int >= 1, else ConfigurationError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {capped_repr(value)}")
    return value


def check_seconds(name: str, value: Any, *, zero: bool = False) -> float:
    """``value`` as float seconds if it is a finite number > 0 (>= 0 with ``zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a number of seconds, got {capped_repr(value)}")
    if value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ConfigurationError(f"{name} must be {bound} seconds, got {capped_repr(value)}")
    return float(value)
