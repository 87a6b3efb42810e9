"""Fetching what verifiers need (a JWKS, a signing certificate) over HTTPS.

The built-in fetcher uses the standard library in a worker thread: https only, no
redirects followed (a redirect could lead off the allow-listed host), a timeout and a
response size cap. Verifiers accept any ``fetch`` of the same shape instead.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from .._redact import capped_repr, capped_text
from ..errors import IngressUnauthorizedError

__all__ = [
    "DEFAULT_FETCH_TIMEOUT",
    "MAX_FETCH_BYTES",
    "Fetch",
    "fetch_or_refuse",
    "https_fetcher",
]

logger = logging.getLogger(__name__)

#: An async function of a URL giving the response body.
Fetch = Callable[[str], Awaitable[bytes]]
#: Seconds the built-in fetcher waits on the network (per socket operation, twice that in all).
DEFAULT_FETCH_TIMEOUT = 10.0
#: The largest response the built-in fetcher reads (a JWKS or a PEM certificate is ~2 KiB).
MAX_FETCH_BYTES = 256 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Answer a 3xx with an error instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def https_fetcher(
    *,
    timeout: float = DEFAULT_FETCH_TIMEOUT,
    max_bytes: int = MAX_FETCH_BYTES,
    context: ssl.SSLContext | None = None,
) -> Fetch:
    """An async ``GET`` for https URLs only, run in a worker thread.

    Raises ``ValueError`` for another scheme or a body over ``max_bytes``; urllib's errors
    for the network, a status >= 300 or a timeout.
    """
    opener = urllib.request.build_opener(
        _NoRedirects(), urllib.request.HTTPSHandler(context=context)
    )

    async def fetch(url: str) -> bytes:
        if urlsplit(url).scheme != "https":
            raise ValueError("the built-in fetcher only fetches https:// URLs")
        work = asyncio.to_thread(_get, opener, url, timeout, max_bytes)
        return await asyncio.wait_for(work, 2 * timeout)

    return fetch


def _get(opener: urllib.request.OpenerDirector, url: str, timeout: float, limit: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "fastapi-events"})
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:  # a status >= 300: it holds the open connection
        exc.close()
        raise
    with response:
        body: bytes = response.read(limit + 1)
    if len(body) > limit:
        raise ValueError(f"the response is over {limit} bytes")
    return body


async def fetch_or_refuse(fetch: Fetch, url: str, what: str) -> bytes:
    """``await fetch(url)``; a failure is logged and raised as an
    :class:`~fastapi_events.errors.IngressUnauthorizedError` with status 503 (the request
    cannot be verified now; the sender retries)."""
    try:
        body = await fetch(url)
    except Exception as exc:  # any fetcher's failure means the same: no key to verify with
        logger.warning(
            "could not fetch the %s from %s: %s: %s",
            what,
            capped_repr(url),
            type(exc).__name__,
            capped_text(str(exc)),
        )
        raise IngressUnauthorizedError(
            f"the {what} could not be fetched ({type(exc).__name__}), so the request cannot "
            f"be verified now; the sender should retry",
            status=503,
        ) from None
    if not isinstance(body, (bytes, bytearray)):
        raise IngressUnauthorizedError(
            f"the fetcher returned {type(body).__name__} for the {what}, not bytes", status=503
        )
    return bytes(body)
