"""Reading a request body under a cap, and answering in JSON, in plain ASGI.

The cap is enforced before anything is read (``content-length``) and while reading (chunks
are counted), so an oversized body is refused without reading more than the cap.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .._asgi import respond
from ..errors import IngressError
from ..typing import Receive, Scope, Send
from ._request import IngressRequest

__all__ = ["read_request", "send_json"]


async def read_request(scope: Scope, receive: Receive, limit: int) -> IngressRequest | None:
    """The request, its body read in full; ``None`` if the client disconnected first.

    Raises:
        IngressError: the body is (or announces to be) over ``limit`` bytes (413), or its
            ``content-length`` is not a number (400).
    """
    headers = _headers(scope)
    _check_length(headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return IngressRequest(scope["method"], scope.get("path", ""), headers, b"".join(chunks))


def _headers(scope: Scope) -> dict[str, str]:
    # Lower-case names; a repeated header keeps its last value (IngressRequest's contract).
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


def _check_length(value: str | None, limit: int) -> None:
    if value is None:
        return
    if not value.strip().isdigit():
        raise IngressError("content-length: expected a number of bytes")
    if int(value) > limit:
        raise _too_large(limit)


def _too_large(limit: int) -> IngressError:
    return IngressError(f"body over the {limit}-byte limit (max_body_bytes)", status=413)


async def send_json(
    send: Send, status: int, body: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer ``status`` with ``body`` as JSON."""
    await respond(send, status, json.dumps(body).encode(), b"application/json", headers=headers)
