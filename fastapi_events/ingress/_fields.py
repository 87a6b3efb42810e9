"""Reading fields of a JSON body with errors that name the field path and the JSON type
found, never the value (the body is untrusted input)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .._redact import field_path
from ..errors import IngressError

__all__ = [
    "iso_time",
    "json_type",
    "load_json",
    "optional_string",
    "parse_time",
    "require_object",
    "require_string",
    "string_map",
    "where",
]

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
# RFC 3339: a date, "T" (or a space), a time with optional fraction, "Z" or an offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z"
)


def json_type(value: object) -> str:
    """The JSON name of ``value``'s type (``object``, ``array``, ``string``...)."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def where(path: tuple[object, ...]) -> str:
    """A field path for an error message (``message.attributes``, ``[2].type``)."""
    return field_path(path, "body" if not path else "")


def load_json(body: bytes) -> Any:
    """Parse ``body`` as JSON (UTF-8).

    Raises:
        IngressError: not JSON; the message gives the position, never the text.
    """
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise IngressError(
            f"body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise IngressError(f"body is not valid JSON ({type(exc).__name__})") from None


def require_object(value: Any, path: tuple[object, ...]) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an error naming ``path`` and the type found."""
    if not isinstance(value, dict):
        raise IngressError(f"{where(path)}: expected a JSON object, got {json_type(value)}")
    return value


def require_string(obj: Mapping[str, Any], key: str, path: tuple[object, ...]) -> str:
    """``obj[key]``, a non-empty string; else an error naming the field."""
    if key not in obj:
        raise IngressError(f"{where((*path, key))}: missing")
    value = optional_string(obj, key, path)
    if not value:
        raise IngressError(f"{where((*path, key))}: expected a non-empty string")
    return value


def optional_string(obj: Mapping[str, Any], key: str, path: tuple[object, ...]) -> str | None:
    """``obj[key]`` if present (a string), ``None`` if absent; else an error."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise IngressError(f"{where((*path, key))}: expected a string, got {json_type(value)}")


def string_map(value: Any, path: tuple[object, ...]) -> dict[str, str]:
    """A JSON object of strings (message attributes); ``None`` is empty."""
    if value is None:
        return {}
    obj = require_object(value, path)
    for key, item in obj.items():
        if not isinstance(item, str):
            raise IngressError(f"{where((*path, key))}: expected a string, got {json_type(item)}")
    return dict(obj)


def parse_time(value: str, label: str) -> datetime:
    """An RFC 3339 timestamp (any number of fraction digits), timezone-aware.

    Raises:
        IngressError: ``value`` is not one; the message names the field (``label``) only.
    """
    match = _RFC3339.match(value)
    if match is not None:
        date, clock, fraction, offset = match.groups()
        micro = (fraction or "0")[:6].ljust(6, "0")
        zone = "+00:00" if offset in ("Z", "z") else offset
        try:
            return datetime.fromisoformat(f"{date}T{clock}.{micro}{zone}")
        except ValueError:
            pass
    raise IngressError(f"{label}: expected an RFC 3339 timestamp")


def iso_time(value: str, label: str) -> str:
    """``value`` checked as RFC 3339 and rewritten as ``datetime.isoformat()`` in UTC."""
    return parse_time(value, label).astimezone(timezone.utc).isoformat()
