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

__all__ = ["dumps", "json_default"]


def json_default(value: Any) -> Any:
    """Turn a value ``json`` cannot encode into one it can (the ``default=`` of ``json.dumps``).

    Pydantic models are dumped (JSON mode), dataclasses become dicts, datetimes, dates and
    times ISO 8601 strings, UUIDs and Decimals strings (no precision lost), Enums their
    value, sets and frozensets lists (sorted when possible), bytes base64 strings.

    Raises:
        TypeError: any other type; the message names it.
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
    raise TypeError(
        f"Object of type {type(value).__qualname__} is not JSON serializable: {value!r:.80}"
    )


_encoder = json.JSONEncoder(
    default=json_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON with :func:`json_default` (NaN/Infinity refused)."""
    return _encoder.encode(value)
