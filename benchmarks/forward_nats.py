"""Forwarding to NATS JetStream: NATSForwardHandler vs the raw nats-py client, same run.

``.venv/bin/python benchmarks/forward_nats.py [--url nats://127.0.0.1:4222]`` (without a
server answering there, a ``nats-server -js`` is started on a free loopback port). Prints one
JSON line.

* ours: ``--events`` events dispatched in ``event_scope`` blocks of ``--chunk`` events (as
  requests would), ``--concurrency`` blocks at a time, through ``NATSForwardHandler`` with
  ``max_batch_size=--chunk``: each block is one batch, published then its acks awaited.
* raw: the same messages (body and headers as ours encodes them, serialized beforehand, so the
  raw side does no encoding at all), the same batches and concurrency, with nats-py's
  ``js.publish_async`` per message and the batch's acks gathered.

After one warm-up run of each, the two alternate (``--repeats`` times each, order flipped
every time) on one connection each to the same server; the stream is purged between runs
and must hold every message. Reports the median events/s of each, their ratio, and the
event loop's largest stall (a 1 ms ticker's lateness) while forwarding.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from _stats import emit
from forwarding import Ticker

__all__ = ["main"]


def _answers(url: str) -> bool:
    host, _, port = url.removeprefix("nats://").rpartition("@")[2].partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=1) as sock:
            return sock.makefile("rb").readline(65536).startswith(b"INFO ")
    except OSError:
        return False


@contextmanager
def _server(url: str) -> Iterator[str]:
    """``url`` if a server answers there, else a ``nats-server -js`` of our own."""
    if _answers(url):
        yield url
        return
    binary = shutil.which("nats-server")
    if binary is None:
        raise SystemExit(f"no NATS server at {url} and nats-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as store:
        command = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        own = f"nats://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 10
            while not _answers(own) and time.monotonic() < deadline:
                time.sleep(0.01)
            yield own
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


def _blocks(args: argparse.Namespace) -> list[range]:
    return [
        range(first, min(first + args.chunk, args.events))
        for first in range(0, args.events, args.chunk)
    ]


async def _concurrently(args: argparse.Namespace, run: Callable[[range], Awaitable[None]]) -> None:
    blocks = _blocks(args)

    async def worker() -> None:
        while blocks:
            await run(blocks.pop())
            await asyncio.sleep(0)  # a request ends: a server would read the next one

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))


async def _ours(handler: Any, args: argparse.Namespace) -> None:
    from fastapi_events import dispatch, event_scope

    async def request(block: range) -> None:
        async with event_scope(handlers=[handler]):
            for index in block:
                dispatch("bench.forwarded", {"index": index, "user": "ada"})

    await _concurrently(args, request)


async def _raw(js: Any, subject: str, messages: list[Any], args: argparse.Namespace) -> None:
    async def request(block: range) -> None:
        futures = [
            await js.publish_async(subject, messages[i].body, headers=dict(messages[i].attributes))
            for i in block
        ]
        await asyncio.gather(*futures)

    await _concurrently(args, request)


def _messages(handler: Any, args: argparse.Namespace) -> list[Any]:
    """What ours sends, encoded once beforehand for the raw side (new event ids)."""
    from fastapi_events._event import Event

    return [
        handler.encode(Event("bench.forwarded", {"index": i, "user": "ada"}))
        for i in range(args.events)
    ]


async def _timed(run: Awaitable[None]) -> tuple[float, float]:
    """Seconds taken, and the largest event-loop stall in ms."""
    ticker = Ticker()
    ticker.start()
    start = time.perf_counter()
    await run
    elapsed = time.perf_counter() - start
    return elapsed, (await ticker.stop())["max_ms"]


async def _measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import nats

    from fastapi_events.handlers.nats import NATSForwardHandler

    name = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    subject = f"{name}.events"
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    handler = NATSForwardHandler(subject, url=url, max_batch_size=args.chunk)
    await handler.astart()
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "raw": []}
    try:
        await _ours(handler, args)  # warm-up, not counted (first-use imports and caches)
        await _raw(js, subject, _messages(handler, args), args)
        for repeat in range(args.repeats):
            order = ["raw", "ours"] if repeat % 2 == 0 else ["ours", "raw"]
            for side in order:
                await js.purge_stream(name)
                if side == "raw":
                    messages = _messages(handler, args)
                    run: Awaitable[None] = _raw(js, subject, messages, args)
                else:
                    run = _ours(handler, args)
                results[side].append(await asyncio.wait_for(_timed(run), args.time_limit))
                stored = (await js.stream_info(name)).state.messages
                assert stored == args.events, f"{side}: {stored} of {args.events} stored"
    finally:
        await handler.aclose()
        await js.delete_stream(name)
        await nc.close()
    rate = {
        side: statistics.median(args.events / t for t, _ in runs) for side, runs in results.items()
    }
    return {
        "events": args.events,
        "chunk": args.chunk,
        "concurrency": args.concurrency,
        "repeats": args.repeats,
        "ours_events_per_s": rate["ours"],
        "raw_events_per_s": rate["raw"],
        "ratio": rate["ours"] / rate["raw"],
        "ours_max_stall_ms": max(stall for _, stall in results["ours"]),
        "raw_max_stall_ms": max(stall for _, stall in results["raw"]),
    }


def main() -> None:
    """Parse the arguments, find or start the server, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per run")
    args = parser.parse_args()
    with _server(args.url) as url:
        emit(asyncio.run(_measure(url, args)))


if __name__ == "__main__":
    main()
