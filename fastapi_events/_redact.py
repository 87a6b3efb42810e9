"""Describing user input in messages without leaking it or copying megabytes of it.

Log records and exception messages name types, field paths and sizes, never payload
values; anything else they echo (names, configuration values) is a repr capped at
:data:`MAX_ECHO` characters.
"""

from __future__ import annotations

import enum
import reprlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "MAX_ECHO",
    "capped_repr",
    "capped_text",
    "describe",
    "describe_event",
    "describe_handler",
    "describe_validation_error",
    "field_path",
    "sized",
]

#: The most characters of user input any message echoes.
MAX_ECHO = 200
#: Validation errors listed in a log line; the rest are counted.
_MAX_ERRORS = 5
_SCALARS = (str, bytes, bytearray, int, float, bool, type(None), enum.Enum)

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = MAX_ECHO
_repr.maxlevel = 3


def capped_text(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` itself when short; else its first ``limit`` characters and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text)} chars]"


def capped_repr(value: object, limit: int = MAX_ECHO) -> str:
    """``repr(value)``, cut to about ``limit`` characters (never computed whole for a
    long str or bytes); a ``repr`` that raises gives the type name instead."""
    if isinstance(value, (str, bytes, bytearray)) and len(value) > limit:
        unit = "chars" if isinstance(value, str) else "bytes"
        return f"{repr(value[:limit])[:limit]}...[{len(value)} {unit}]"
    try:
        text = _repr.repr(value)
    except Exception:  # a broken __repr__ must not hide the error being reported
        return f"<{type(value).__qualname__} object>"
    return capped_text(text, limit)


def describe(value: object) -> str:
    """A scalar (str, bytes, number, Enum) as its capped repr and type; anything else,
    which may well be a payload, by its type only."""
    kind = type(value).__qualname__
    if isinstance(value, _SCALARS):
        return f"{capped_repr(value)} ({kind})"
    return f"a value of type {kind}"


def sized(value: str | bytes | bytearray) -> str:
    """A str or bytes value by its type and size only: ``"a bytes value of 18 bytes"``."""
    unit = "characters" if isinstance(value, str) else "bytes"
    return f"a {type(value).__name__} value of {len(value)} {unit}"


def field_path(parts: Sequence[object], root: str = "") -> str:
    """Render a location such as ``("items", 0, "price")`` as ``items[0].price``."""
    text = root
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier() and len(part) <= 64:
            text += f".{part}" if text else part
        else:
            text += f"[{capped_repr(part, 64)}]"
    return capped_text(text or "<root>", 2 * MAX_ECHO)


def describe_validation_error(exc: BaseException) -> str | None:
    """Summarise a pydantic ``ValidationError`` as field paths, error types and input
    types (its ``str`` quotes the input); ``None`` for any other exception."""
    core = sys.modules.get("pydantic_core")
    if core is None or not isinstance(exc, core.ValidationError):
        return None
    errors: list[Any] = exc.errors(include_url=False, include_context=False)
    listed = [
        f"{field_path(error['loc'])}: {error['type']} (got {type(error.get('input')).__name__})"
        for error in errors[:_MAX_ERRORS]
    ]
    more = f"; and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
    title = capped_text(str(exc.title), 64)
    return f"{len(errors)} validation error(s) for {title}: {'; '.join(listed)}{more}"


def describe_event(event: Any, limit: int = 80) -> str:
    """The event's name for a log line or message, repr-quoted and capped at ``limit``."""
    return capped_repr(event.key, limit)


def describe_handler(handler: object) -> str:
    """Return a readable qualified name for a handler object or function."""
    if handler is None:
        return "<none>"
    target = handler if callable(handler) and hasattr(handler, "__qualname__") else type(handler)
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{getattr(target, '__qualname__', repr(target))}"
