"""A small HTTP/1.1 client on asyncio streams: keep-alive connections to one AWS endpoint.

What the SQS forwarder's asyncio transport sends its signed requests with, so a send costs
the event loop a few hundred microseconds and no worker thread (botocore's own HTTP stack
blocks, and its CPU work in threads competes with the loop for the GIL: see
``benchmarks/forwarding_rtt.py``). Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ConnectionPool", "HttpResponse"]

_MAX_HEAD = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One connection of a :class:`ConnectionPool`."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def usable(self) -> bool:
        """Whether it may carry a request: an idle connection the server closed has seen
        EOF already, and is never reused."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        """Close it (errors ignored: its loop may be gone)."""
        with contextlib.suppress(Exception):
            self.writer.close()


class ConnectionPool:
    """Keep-alive connections to the endpoint ``endpoint_url`` names, on one event loop.

    A connection carries one request at a time; callers limit how many run at once. Idle
    connections are reused (at most ``max_idle`` kept); one a request failed or was
    cancelled on is closed, never reused.
    """

    def __init__(
        self,
        endpoint_url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float,
        read_timeout: float,
        max_idle: int,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {parts.scheme or '(no scheme)'}")
        self.host = parts.hostname
        default = _DEFAULT_PORTS[parts.scheme]
        self.port = parts.port or default
        #: The Host header (and the host SigV4 signs): no default port.
        self.netloc = self.host if self.port == default else f"{self.host}:{self.port}"
        self.path = parts.path or "/"
        self._ssl = ssl_context if parts.scheme == "https" else None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_idle = max_idle
        self._idle: list[Connection] = []

    async def connection(self) -> Connection:
        """An idle connection, or a new one.

        Raises:
            OSError, asyncio.TimeoutError: connecting failed.
        """
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
            connection.close()
        opening = asyncio.open_connection(
            self.host, self.port, ssl=self._ssl, server_hostname=self.host if self._ssl else None
        )
        reader, writer = await asyncio.wait_for(opening, self._connect_timeout)
        return Connection(reader, writer)

    def send(self, connection: Connection, headers: dict[str, str], body: bytes) -> None:
        """Write a POST of ``body`` with ``headers`` (plus Content-Length) on
        ``connection``; then await :meth:`response`."""
        connection.writer.write(_head(self.path, headers, len(body)) + body)

    async def response(self, connection: Connection) -> HttpResponse:
        """Read the answer on ``connection``, then keep the connection for reuse or close
        it (always closed if reading fails or is cancelled).

        Raises:
            OSError, EOFError, asyncio.TimeoutError: the connection failed or timed out.
        """
        try:
            response, keep = await asyncio.wait_for(
                _read_response(connection.reader), self._read_timeout
            )
        except BaseException:
            connection.close()
            raise
        if keep and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def close(self) -> None:
        """Close the idle connections (requests in flight close theirs when done)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _head(path: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_response(reader: asyncio.StreamReader) -> tuple[HttpResponse, bool]:
    """One response, and whether the connection may carry another request."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > _MAX_HEAD:
        raise ConnectionError("HTTP response head too large")
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = int(rest.partition(" ")[0])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:  # delimited by the end of the connection
        body, keep = await reader.read(), False
    return HttpResponse(status, headers, body), keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
        pass
    return b"".join(chunks)
