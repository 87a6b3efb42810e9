"""Consuming from Redis Streams: RedisStreamConsumer vs. redis-py's own XREADGROUP/XACK loop.

N entries are appended to a fresh stream by the Redis forwarder (not timed), then read by a
new consumer group, either by :class:`~fastapi_events.consumers.RedisStreamConsumer` into a
no-op local handler (decode, handle, XACK after success) or by a raw loop that reads and
acknowledges the same entries in batches without decoding them. Repetitions alternate the
two (order flipped each time); the median of each is reported. Redis on 127.0.0.1:6379.

Prints one JSON line: ``{"wire": "redis", "events": N, "ours_eps": ..., "raw_eps": ...,
"ratio": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import redis.asyncio

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.consumers import RedisStreamConsumer
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.redis import RedisStreamForwardHandler

URL = "redis://127.0.0.1:6379/0"
#: A bound on every wait: a run that takes longer is reported as failed, never waited on.
DEADLINE = 60.0
BATCH = 100


async def fill(stream: str, count: int) -> None:
    """Append ``count`` events to ``stream`` through the forwarder."""
    forwarder = RedisStreamForwardHandler(stream, url=URL)
    for start in range(0, count, 1000):
        async with event_scope(handlers=[forwarder]) as buffer:
            for i in range(start, min(count, start + 1000)):
                buffer.add(Event("bench.consumed", {"i": i}))
    await forwarder.aclose()


async def ours(stream: str, count: int) -> float:
    """Events/s handled by RedisStreamConsumer (no-op handler), from start to stopped."""
    handler, done = LocalHandler(), asyncio.Event()
    seen = 0

    @handler.register(event_name="*")
    async def noop(event: Event) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            done.set()

    consumer = RedisStreamConsumer(
        stream, handlers=[handler], group="bench", url=URL, concurrency=BATCH, block=0.05
    )
    started = time.perf_counter()
    async with consumer:  # leaving it settles (XACKs) everything handled
        await asyncio.wait_for(done.wait(), DEADLINE)
    elapsed = time.perf_counter() - started
    if consumer.stats.succeeded != count:
        raise RuntimeError(f"{consumer.stats.succeeded} of {count} entries acknowledged")
    return count / elapsed


async def raw(stream: str, count: int) -> float:
    """Events/s of a plain XREADGROUP + XACK loop over the same entries."""
    client = redis.asyncio.Redis.from_url(URL)
    await client.xgroup_create(stream, "bench", id="0", mkstream=True)
    acked, started = 0, time.perf_counter()
    while acked < count and time.perf_counter() - started < DEADLINE:
        reply = await client.xreadgroup("bench", "raw", {stream: ">"}, count=BATCH, block=50)
        for _name, entries in reply:
            ids = [entry_id for entry_id, _fields in entries]
            if ids:
                acked += await client.xack(stream, "bench", *ids)
    elapsed = time.perf_counter() - started
    await client.aclose()
    return count / elapsed


async def run(count: int, repetitions: int) -> dict[str, Any]:
    """Alternate ours and raw ``repetitions`` times each; medians and their ratio."""
    results: dict[str, list[float]] = {"ours": [], "raw": []}
    client = redis.asyncio.Redis.from_url(URL)
    for repetition in range(repetitions):
        order = ["ours", "raw"] if repetition % 2 == 0 else ["raw", "ours"]
        for kind in order:
            stream = f"bench-consume-{uuid.uuid4().hex}"
            await fill(stream, count)
            try:
                results[kind].append(await (ours if kind == "ours" else raw)(stream, count))
            finally:
                await client.delete(stream)
    await client.aclose()
    ours_eps, raw_eps = (statistics.median(results[k]) for k in ("ours", "raw"))
    return {
        "wire": "redis",
        "events": count,
        "ours_eps": round(ours_eps, 1),
        "raw_eps": round(raw_eps, 1),
        "ratio": round(ours_eps / raw_eps, 3),
    }


def main() -> None:
    """Parse the arguments, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repetitions")
    args = parser.parse_args()
    count, repetitions = (2000, 2) if args.quick else (10_000, 3)
    print(json.dumps(asyncio.run(run(count, repetitions))))


if __name__ == "__main__":
    main()
