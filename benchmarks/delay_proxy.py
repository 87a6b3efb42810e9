"""An HTTP/1.1 proxy on 127.0.0.1 adding a fixed delay to every request: a loopback
server made to answer with a real network round trip (SQS answers in 10-30 ms).

Each request is held ``--delay-ms`` after it arrived, then relayed; the delay is per
request, not per connection. Every client connection gets its own upstream connection,
so keep-alive and concurrency are as the client makes them. Standard library only; in
its own process; prints ``{"port": N}`` on stdout.

    python benchmarks/delay_proxy.py --upstream 127.0.0.1:PORT --delay-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time

from _http1 import read_message

__all__ = ["main", "relay"]


async def relay(
    upstream: tuple[str, int],
    delay: float,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Relay one client connection's requests to ``upstream``, each ``delay`` s late."""
    up_reader: asyncio.StreamReader | None = None
    up_writer: asyncio.StreamWriter | None = None
    try:
        while (request := await read_message(reader)) is not None:
            arrived = time.monotonic()
            if up_writer is None:
                up_reader, up_writer = await asyncio.open_connection(*upstream)
            await asyncio.sleep(max(0.0, arrived + delay - time.monotonic()))
            up_writer.write(request.raw())
            assert up_reader is not None
            response = await read_message(up_reader)
            if response is None:
                break
            writer.write(response.raw())
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        for stream in (writer, up_writer):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


async def serve(upstream: tuple[str, int], delay_ms: float, port: int = 0) -> None:
    """Serve on 127.0.0.1:``port`` until cancelled; print the port."""
    server = await asyncio.start_server(
        lambda r, w: relay(upstream, delay_ms / 1000, r, w), "127.0.0.1", port, backlog=256
    )
    sys.stdout.write(json.dumps({"port": server.sockets[0].getsockname()[1]}) + "\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the arguments and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True, help="127.0.0.1:PORT")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        parser.error("the upstream must be on 127.0.0.1")
    asyncio.run(serve((host, int(port)), args.delay_ms, args.port))


if __name__ == "__main__":
    main()
