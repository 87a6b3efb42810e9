"""What a verifier sees of a request: method, path, headers and the (size-capped) body.

.. versionadded:: 1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["IngressRequest", "Verifier"]


@dataclass(frozen=True)
class IngressRequest:
    """One HTTP request to the ingress, read in full (the body is capped before parsing).

    Attributes:
        method: the HTTP method, upper case.
        path: the request path (no query string).
        headers: header names in lower case; a repeated header keeps its last value.
        body: the raw body bytes.

    .. versionadded:: 1.0
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None``."""
        return self.headers.get(name.lower())


@runtime_checkable
class Verifier(Protocol):
    """Decides whether a request may reach the handlers.

    :meth:`verify` returns when the request is authentic and raises
    :class:`~fastapi_events.errors.IngressUnauthorizedError` (answered with 401) when it
    is not. It must never echo secrets, tokens or payload values in the error.

    .. versionadded:: 1.0
    """

    async def verify(self, request: IngressRequest) -> None:
        """Return if ``request`` is authentic; raise ``IngressUnauthorizedError`` if not."""
        ...
