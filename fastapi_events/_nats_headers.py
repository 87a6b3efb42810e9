"""NATS message headers for a message's attributes, and back (CloudEvents NATS binding).

Every attribute becomes a header of its own name, plus:

- ``Nats-Msg-Id``: the event id, so JetStream drops a repeat within its duplicate window;
- ``Content-Type``: the body's media type (``application/cloudevents+json`` marks a
  structured CloudEvent for NATS receivers);
- with binary CloudEvents, the ``ce-*`` attributes as ``ce-*`` headers and
  ``ce-datacontenttype``, as the binding names them.

Values are percent-encoded as the binding requires (space, ``"``, ``%`` and everything
outside printable ASCII), so no value can break a header line; :func:`header_attributes`
decodes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from .errors import SerializationError

__all__ = [
    "CONTENT_TYPE_HEADER",
    "MSG_ID_HEADER",
    "header_attributes",
    "nats_headers",
    "percent_decode",
    "percent_encode",
]

MSG_ID_HEADER = "Nats-Msg-Id"
CONTENT_TYPE_HEADER = "Content-Type"
_CE_PREFIX = "ce-"
_CONTENT_TYPE_ATTRIBUTES = ("content_type", "content-type")
_BINARY_CONTENT_TYPE = "content-type"  # what a binary CloudEvent's attributes call it
#: Any character but printable ASCII (U+0021-U+007E) without ``"`` and ``%``.
_UNSAFE = re.compile(r"[^!#$&-~]")


def percent_encode(value: str) -> str:
    """``value`` with space, ``"``, ``%`` and every character outside printable ASCII
    percent-encoded (UTF-8, upper-case hex), as the CloudEvents NATS binding says: the
    result is printable ASCII."""
    if _UNSAFE.search(value) is None:
        return value
    return _UNSAFE.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


def percent_decode(value: str) -> str:
    """A header value back: a double-quoted string unquoted first, then one round of
    percent-decoding.

    Raises:
        SerializationError: the percent-encoded bytes are not valid UTF-8.
    """
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _unquote(value[1:-1])
    if "%" not in value:
        return value
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError as exc:
        raise SerializationError(
            f"a NATS header value is not valid percent-encoded UTF-8 ({len(value)} characters)"
        ) from exc


def _unquote(quoted: str) -> str:
    chars: list[str] = []
    escaped = False
    for char in quoted:
        if char == "\\" and not escaped:
            escaped = True
            continue
        chars.append(char)
        escaped = False
    return "".join(chars)


def nats_headers(event_id: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """The headers of a NATS message carrying an event with these attributes."""
    headers = {MSG_ID_HEADER: percent_encode(event_id)}
    for name, value in attributes.items():
        encoded = percent_encode(value)
        if name in _CONTENT_TYPE_ATTRIBUTES:
            headers[CONTENT_TYPE_HEADER] = encoded
            if name == _BINARY_CONTENT_TYPE:
                headers[f"{_CE_PREFIX}datacontenttype"] = encoded
            continue
        headers[name] = encoded
    return headers


def header_attributes(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """The attributes of a received NATS message's headers: values decoded, ``ce-*`` names
    lower-cased (NATS header names are case-insensitive)."""
    attributes: dict[str, str] = {}
    for name, value in (headers or {}).items():
        key = str(name)
        if key[: len(_CE_PREFIX)].lower() == _CE_PREFIX:
            key = key.lower()
        text = value.decode() if isinstance(value, bytes) else str(value)
        attributes[key] = percent_decode(text)
    return attributes
