"""Scenario 5, the load generator process: client-side latency of GET / per server.

A minimal HTTP/1.1 keep-alive client on asyncio streams: httpx's own per-request cost and
pool scheduling put tails of hundreds of milliseconds on the *bare* server here, which would
hide what the server does. For each repetition and each target (order rotated per
repetition) it sends ``--requests`` requests over ``--concurrency`` keep-alive connections
(closed loop: each connection sends its next request as soon as it has the previous
response), then ``--requests // 5`` requests one after another on a single keep-alive
connection. Prints one JSON line with p50/p99 per block.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

from _stats import emit, percentile

__all__ = ["main"]


class Connection:
    """One keep-alive HTTP/1.1 connection sending GET requests one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self) -> int:
        """Send one request, read the whole response; return the status code."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                raise RuntimeError("the server closed the keep-alive connection")
        await self.reader.readexactly(length)
        return int(lines[0].split()[1])

    def close(self) -> None:
        """Close the socket."""
        if self.writer is not None:
            self.writer.close()


async def _block(connections: list[Connection], requests: int) -> list[float]:
    latencies: list[float] = []
    remaining = [requests]

    async def worker(connection: Connection) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            start = time.perf_counter()
            status = await connection.get()
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"GET / answered {status}")

    await asyncio.gather(*(worker(connection) for connection in connections))
    return latencies


def _summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "max_ms": max(latencies) * 1e3,
        "rps": len(latencies) / elapsed,
    }


async def _measure(targets: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    pools: dict[str, dict[str, list[Connection]]] = {}
    for name, url in targets.items():
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        pools[name] = {
            "concurrent": [Connection(host, port) for _ in range(args.concurrency)],
            "single": [Connection(host, port)],
        }
        for connections in pools[name].values():  # warm up: connections open
            await _block(connections, args.warmup)
    counts = {"concurrent": args.requests, "single": max(args.requests // 5, 20)}
    results: dict[str, Any] = {name: {kind: [] for kind in counts} for name in targets}
    names = list(targets)
    for rep in range(args.reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            for kind, count in counts.items():
                start = time.perf_counter()
                latencies = await _block(pools[name][kind], count)
                results[name][kind].append(_summary(latencies, time.perf_counter() - start))
    for pool in pools.values():
        for connections in pool.values():
            for connection in connections:
                connection.close()
    return results


def main() -> None:
    """Parse the arguments, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", action="append", required=True, help="name=url")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    targets = dict(target.split("=", 1) for target in args.target)
    emit(asyncio.run(_measure(targets, args)))


if __name__ == "__main__":
    main()
