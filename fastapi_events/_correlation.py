"""The correlation id of a request: asgi-correlation-id's when it runs, else a header.

Events dispatched in a request carry it (``Event.correlation_id``), so do the events their
handlers chain, and forwarders send it as the ``correlation_id`` message attribute.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_CORRELATION_HEADERS",
    "MAX_CORRELATION_ID_LENGTH",
    "correlation_headers",
    "find_correlation_id",
]

#: The request headers read, in order, when ``correlation_id_header`` is not given.
DEFAULT_CORRELATION_HEADERS = ("x-request-id", "x-correlation-id")
#: Longer header values are cut to this many characters (they are client input).
MAX_CORRELATION_ID_LENGTH = 128


def _asgi_correlation_id_var() -> ContextVar[str | None] | None:
    # asgi-correlation-id keeps the id it read or generated in this ContextVar.
    if importlib.util.find_spec("asgi_correlation_id") is None:
        return None
    from asgi_correlation_id import correlation_id

    return correlation_id


_from_asgi_correlation_id: ContextVar[str | None] | None = None
_looked_up = False


def correlation_headers(names: str | Sequence[str] | None) -> tuple[bytes, ...]:
    """The header names to read, lower-cased ASCII bytes (``None``: read no header)."""
    if names is None:
        return ()
    if isinstance(names, str):
        names = (names,)
    if not all(isinstance(name, str) and name.isascii() and name for name in names):
        raise ConfigurationError(
            "correlation_id_header must be a header name, a sequence of them, or None; "
            "pass e.g. correlation_id_header='X-Request-ID'"
        )
    return tuple(name.lower().encode("ascii") for name in names)


def find_correlation_id(scope: Any, headers: tuple[bytes, ...]) -> str | None:
    """The request's correlation id: asgi-correlation-id's, else the first header found."""
    global _from_asgi_correlation_id, _looked_up
    if not _looked_up:
        _from_asgi_correlation_id, _looked_up = _asgi_correlation_id_var(), True
    if _from_asgi_correlation_id is not None and (value := _from_asgi_correlation_id.get()):
        return str(value)[:MAX_CORRELATION_ID_LENGTH]
    if scope is None or not headers:
        return None
    best: bytes | None = None
    rank = len(headers)  # the position in ``headers`` of the one found so far
    for key, value in scope.get("headers", ()):  # one pass, nothing built when none is there
        if key in headers and value and (position := headers.index(key)) < rank:
            best, rank = value, position
    return None if best is None else best.decode("latin-1")[:MAX_CORRELATION_ID_LENGTH]
