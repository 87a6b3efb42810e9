"""CloudEvents over HTTP: binary (``ce-*`` headers), structured and batched JSON bodies.

Every mode becomes one envelope (a mapping of attributes, ``data`` beside them), checked
field by field and turned into an event by :func:`fastapi_events.serialization.decode`,
so the HTTP binding reads exactly what every other wire reads.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from .._event import Event
from ..consumers._events import event_from
from ..errors import IngressError, SerializationError
from ..serialization import decode
from ._fields import (
    iso_time,
    json_type,
    load_json,
    require_object,
    where,
)
from ._request import IngressRequest

__all__ = ["CE_BATCH", "CE_JSON", "batch_events", "binary_events", "is_json", "structured_event"]

CE_JSON = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"
_CE_HEADER = "ce-"
_REQUIRED = ("id", "source", "type")
_OPTIONAL = ("time", "correlationid", "traceparent", "tracestate", "datacontenttype")


def is_json(media_type: str) -> bool:
    """True for ``application/json`` and any ``*/*+json`` media type."""
    return media_type == "application/json" or media_type.endswith("+json")


def binary_events(request: IngressRequest, media_type: str) -> list[Event]:
    """The event of a binary-mode request: attributes from ``ce-*`` headers
    (percent-decoded, as the HTTP binding says), data from the JSON body."""
    if media_type and not is_json(media_type):
        raise IngressError(
            "binary CloudEvents data must be JSON (content-type application/json or */*+json)",
            status=415,
        )
    envelope: dict[str, Any] = {
        name[len(_CE_HEADER) :]: unquote(value)
        for name, value in request.headers.items()
        if name.startswith(_CE_HEADER)
    }
    if request.body:
        envelope["data"] = load_json(request.body)
    return [_event(envelope, (), request.header("traceparent"), headers=True)]


def structured_event(request: IngressRequest) -> Event:
    """The event of a structured-mode request (``application/cloudevents+json``)."""
    return _event(require_object(load_json(request.body), ()), (), request.header("traceparent"))


def batch_events(request: IngressRequest) -> list[Event]:
    """The events of a batched request (``application/cloudevents-batch+json``): a JSON
    array of structured CloudEvents."""
    items = load_json(request.body)
    if not isinstance(items, list):
        raise IngressError(f"body: expected a JSON array of CloudEvents, got {json_type(items)}")
    return [_event(require_object(item, (i,)), (i,), None) for i, item in enumerate(items)]


def _event(
    envelope: Mapping[str, Any],
    path: tuple[object, ...],
    traceparent: str | None,
    *,
    headers: bool = False,
) -> Event:
    checked = _checked(envelope, path, headers)
    attributes: dict[str, str] = {}
    correlation = checked.get("correlationid")
    if isinstance(correlation, str) and correlation:
        attributes["ce-correlationid"] = correlation
    if traceparent and "traceparent" not in checked:  # the HTTP hop's trace, else none
        attributes["traceparent"] = traceparent
    try:
        received = decode(checked, attributes)
    except SerializationError:  # _checked() leaves little; never quote the cause
        raise IngressError(f"{where(path)}: not a CloudEvent this endpoint reads") from None
    return event_from(received, checked["id"], None)


def _checked(
    envelope: Mapping[str, Any], path: tuple[object, ...], headers: bool
) -> dict[str, Any]:
    """``envelope`` with its attributes checked, and ``time`` in the form decode reads."""

    def label(key: str) -> str:
        return f"header ce-{key}" if headers else where((*path, key))

    specversion = envelope.get("specversion")
    if specversion is None:
        raise IngressError(f"{label('specversion')}: missing")
    if specversion != "1.0":
        raise IngressError(f"{label('specversion')}: only CloudEvents 1.0 is supported")
    for key in _REQUIRED:
        value = envelope.get(key)
        if not isinstance(value, str) or not value:
            found = "missing" if value is None else "expected a non-empty string"
            raise IngressError(f"{label(key)}: {found}")
    for key in _OPTIONAL:
        value = envelope.get(key)
        if value is not None and not isinstance(value, str):
            raise IngressError(f"{label(key)}: expected a string, got {json_type(value)}")
    checked = dict(envelope)
    if envelope.get("time") is not None:
        checked["time"] = iso_time(envelope["time"], label("time"))
    if "data" not in envelope and envelope.get("data_base64") is not None:
        _check_base64(envelope["data_base64"], label("data_base64"))
    return checked


def _check_base64(value: Any, label: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise IngressError(f"{label}: expected a base64 string") from None
