"""Constructor checks shared by the verifiers: a bad argument fails at construction,
naming the argument, the type it got and the fix (never the value). Counts and seconds
are checked by :mod:`fastapi_events._checks`, as everywhere else.

.. versionadded:: 1.0
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigurationError

__all__ = ["check_fetch", "check_text", "check_texts"]


def _kind(value: object) -> str:
    if isinstance(value, str) and not value:
        return "an empty str"
    return type(value).__name__


def check_text(name: str, value: Any, example: str, *, optional: bool = False) -> str | None:
    """``value`` if it is a non-empty str (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(
            f"{name} must be a non-empty str, got {_kind(value)}; pass e.g. {name}={example}"
        )
    return value


def check_texts(name: str, value: Any, example: str) -> tuple[str, ...]:
    """``value`` as a tuple of non-empty str; it must be a non-empty iterable, not a str."""
    items = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if items and all(isinstance(item, str) and item for item in items):
        return items
    if items is None:
        got = _kind(value)
    elif not items:
        got = f"an empty {type(value).__name__}"
    else:
        kinds = ", ".join(sorted({_kind(item) for item in items}))
        got = f"a {type(value).__name__} of {kinds}"
    raise ConfigurationError(
        f"{name} must be a non-empty list of non-empty str, got {got}; pass e.g. {name}={example}"
    )


def check_fetch(value: Any) -> Any:
    """``fetch=``: ``None`` or a callable (an async function of the URL giving bytes)."""
    if value is not None and not callable(value):
        raise ConfigurationError(
            f"fetch must be an async function (url: str) -> bytes, got {type(value).__name__}; "
            f"pass e.g. fetch=my_fetch, or leave it out for the built-in https fetcher"
        )
    return value
