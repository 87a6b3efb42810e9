"""A TCP proxy on 127.0.0.1 that a test cuts and restores: a broker "restarted" mid-stream.

The shared RabbitMQ server cannot be restarted by a test, so the forwarder talks to it
through this proxy, which runs on the test's own event loop:

* ``cut()`` closes the listening socket (new connections are refused, as by a stopped
  broker) and resets every open connection both ways (clients see the connection drop at
  once, not after a heartbeat timeout);
* ``restore()`` listens again on the same port;
* ``hold()`` stops relaying the broker's bytes to the clients (publisher confirms are not
  seen), so a test can cut while a send is on the wire; ``client_bytes`` then tells when the
  client has written something since.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from urllib.parse import urlsplit

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy:
    """Relays 127.0.0.1:``port`` to ``upstream_port`` on 127.0.0.1 (see the module docstring)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.client_bytes = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._sockets: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def url_for(self, url: str) -> str:
        """``url`` (``scheme://user:password@host:port/path``) through the proxy."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    async def start(self) -> TcpProxy:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    restore = start

    def hold(self) -> None:
        """Stop relaying the broker's bytes to the clients (until the next cut)."""
        self.client_bytes.clear()
        self._flowing.clear()

    async def cut(self) -> None:
        """Stop listening and reset every connection, both ways."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._sockets):
            _reset(writer)
        self._sockets.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._flowing.set()

    async def close(self) -> None:
        """Cut for good."""
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            _reset(writer)
            return
        self._sockets |= {writer, up_writer}
        for source, sink, upstream in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.ensure_future(self._relay(source, sink, upstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _relay(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, to_broker: bool
    ) -> None:
        try:
            while data := await source.read(_CHUNK):
                if to_broker:
                    self.client_bytes.set()
                else:
                    await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0): the peer's reads fail at once."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
