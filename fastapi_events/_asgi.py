"""What the small ASGI apps of this package share: a lifespan with nothing to start, and
one complete response.

.. versionadded:: 1.0
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from .typing import Receive, Send

__all__ = ["respond", "serve_lifespan"]


async def serve_lifespan(
    receive: Receive,
    send: Send,
    startup: Callable[[], Awaitable[None]] | None = None,
    shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Answer a lifespan scope of an app served on its own, awaiting ``startup`` and
    ``shutdown`` (if given) before saying each is complete."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if startup is not None:
                await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if shutdown is not None:
                await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def respond(
    send: Send,
    status: int,
    data: bytes,
    content_type: bytes,
    *,
    head: bool = False,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send one complete, uncached response (``head``: the headers only)."""
    fields = [
        (b"content-type", content_type),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": b"" if head else data})
