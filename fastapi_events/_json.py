"""The JSON encoding forwarders use: the types payloads carry, and nothing silently."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Any

from ._payload import is_pydantic_model
from ._redact import field_path

__all__ = ["TOO_DEEP", "dumps", "json_default"]

#: The message of the ValueError for a value nested past the interpreter's recursion limit.
TOO_DEEP = "the value is nested too deeply to encode as JSON"


def json_default(value: Any) -> Any:
    """Turn a value ``json`` cannot encode into one it can (the ``default=`` of ``json.dumps``).

    Pydantic models are dumped (JSON mode), dataclasses become dicts, datetimes, dates and
    times ISO 8601 strings, UUIDs and Decimals strings (no precision lost), Enums their
    value, sets and frozensets lists (sorted when possible), bytes base64 strings.

    Raises:
        TypeError: any other type; the message names the type, never the value.
    """
    if is_pydantic_model(value):
        return value.model_dump(mode="json")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"Object of type {type(value).__qualname__} is not JSON serializable")


_encoder = json.JSONEncoder(
    default=json_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON with :func:`json_default` (NaN/Infinity refused).

    Raises:
        TypeError: a value cannot be encoded; the message names its type and where it
            is (``$.payload.card``), never the value.
        ValueError: NaN or Infinity, a circular reference, or nesting too deep to encode.
    """
    try:
        return _encoder.encode(value)
    except TypeError as exc:
        where = _locate_unencodable(value)
        if where is None:
            raise
        raise TypeError(f"{exc} (at {where})") from exc
    except RecursionError:  # its traceback is a thousand identical frames: drop it
        raise ValueError(TOO_DEEP) from None


def _locate_unencodable(value: Any) -> str | None:
    """The path of the first value ``dumps`` cannot encode, walked without recursion."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    seen: set[int] = set()
    while stack:
        path, item = stack.pop()
        if item is None or isinstance(item, (str, int, float)):
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            if any(not _is_json_key(key) for key in item):
                return "a key of " + field_path(path, "$")
            children = [((*path, key), child) for key, child in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [((*path, index), child) for index, child in enumerate(item)]
        else:
            try:
                children = [(path, json_default(item))]
            except TypeError:
                return field_path(path, "$")
        stack.extend(reversed(children))
    return None


def _is_json_key(key: object) -> bool:
    return key is None or isinstance(key, (str, int, float))
