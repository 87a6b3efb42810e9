"""Minimal HTTP/1.1 message reading on asyncio streams, for the benchmark servers
(``sqs_light.py``, ``delay_proxy.py``). Standard library only; ``Content-Length`` bodies
only (what botocore sends and what these servers answer): anything else fails loudly."""

from __future__ import annotations

import asyncio

__all__ = ["HttpMessage", "read_message"]

_MAX_HEAD = 64 * 1024


class HttpMessage:
    """One request or response: its first line, headers (lower-case names) and body."""

    __slots__ = ("body", "head", "headers", "start_line")

    def __init__(self, head: bytes, start_line: str, headers: dict[str, str], body: bytes):
        self.head = head  # the raw head, up to and including the blank line
        self.start_line = start_line
        self.headers = headers
        self.body = body

    def raw(self) -> bytes:
        """The message as it came on the wire."""
        return self.head + self.body


async def read_message(reader: asyncio.StreamReader) -> HttpMessage | None:
    """Read one message; ``None`` when the peer closed the connection between messages.

    Raises:
        ValueError: a chunked body or a head without ``Content-Length`` framing.
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    if len(head) > _MAX_HEAD:
        raise ValueError("HTTP head too large")
    lines = head[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked bodies are not supported by the benchmark servers")
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return HttpMessage(head, lines[0], headers, body)
