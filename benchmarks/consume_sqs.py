"""Consuming from SQS: SQSConsumer vs. a plain boto3 receive/delete loop, and the end-to-end
latency from dispatch() in an app to a handler in a consumer.

The light SQS-protocol server (``sqs_light.py``, in its own process; moto's 4-5 ms of CPU
per call would be the thing measured) keeps the messages in memory. Before each run, N
events are sent to a fresh queue by :class:`~fastapi_events.handlers.aws.SQSForwardHandler`
(not timed). Then, timed from the consumer started (its client made) until the last
message was deleted:

* **ours**: :class:`~fastapi_events.consumers.SQSConsumer` (long polls; ``concurrency``
  100) decodes each message into its event, hands it to a ``LocalHandler`` whose one
  function does nothing, and deletes it (``DeleteMessageBatch``) after;
* **raw**: boto3 threads, each looping ``receive_message`` (10 at a time, the same message
  and system attributes) then ``delete_message_batch`` of what it got, no decoding. As
  many threads as the consumer has calls in flight: two (its receive loop keeps one
  ReceiveMessage in flight, and its deletes go out one call at a time beside it); for
  context also one thread (**raw_1thread**: one receive in flight, as the consumer).
* **ours_botocore**: the consumer with ``transport="botocore"`` (boto3 in worker threads:
  what it did before its calls moved onto the event loop).

Repetitions alternate them (order flipped each time); the median of each is reported.
With ``--delay-ms D`` (default 20; 0: skip) the same comparison is repeated through
``delay_proxy.py`` adding D ms to every call (a real round trip), reported separately.

Latency: app A (FastAPI, in process through ``httpx.ASGITransport``) dispatches one event
per request at ``--rate`` requests/s through the middleware and ``SQSForwardHandler``; an
SQSConsumer in the same process (long polls of 20 s) hands it to a local handler, which
records the time since ``dispatch()`` (``Event.unix_time``).

Prints one JSON line: ``{"wire": "sqs", "events", "ours_eps", "raw_eps", "ratio",
"latency_p50_ms", "latency_p99_ms", ...}``. Bounded: at most 20,000 events per run, and
every wait has a deadline.

    .venv/bin/python benchmarks/consume_sqs.py [--quick] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from _stats import percentile
from forwarding_rtt import ENV, _counts, _proxy, _spawn

__all__ = ["main"]

REGION = "us-east-1"
MAX_EVENTS = 20_000
#: A bound on every run: one taking longer fails, never waits on.
DEADLINE = 60.0
CONCURRENCY = 100
#: The raw loop's threads: the consumer's calls in flight (one receive, one delete).
RAW_THREADS = 2
_SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.session.Session().client("sqs", region_name=REGION, endpoint_url=endpoint)


async def fill(server: str, count: int) -> str:
    """A fresh queue holding ``count`` events sent by the forwarder; its URL."""
    from fastapi_events import event_scope
    from fastapi_events._event import Event
    from fastapi_events.handlers.aws import SQSForwardHandler

    url = _client(server).create_queue(QueueName=f"bench-consume-{uuid.uuid4().hex}")["QueueUrl"]
    forwarder = SQSForwardHandler(url, region_name=REGION, endpoint_url=server)
    for start in range(0, count, 1000):
        async with event_scope(handlers=[forwarder]) as buffer:
            for i in range(start, min(count, start + 1000)):
                buffer.add(Event("bench.consumed", {"i": i, "user": "ada"}))
    await forwarder.aclose()
    return str(url)


async def ours(endpoint: str, url: str, count: int, **options: Any) -> float:
    """Events/s through SQSConsumer into a no-op handler, from started until stopped."""
    from fastapi_events.consumers import SQSConsumer
    from fastapi_events.handlers.local import LocalHandler

    handler, done = LocalHandler(), asyncio.Event()
    seen = 0

    @handler.register(event_name="*")
    async def noop(event: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            done.set()

    consumer = SQSConsumer(
        url,
        handlers=[handler],
        region_name=REGION,
        endpoint_url=endpoint,
        concurrency=CONCURRENCY,
        **options,
    )
    await consumer.start()
    started = time.perf_counter()
    try:
        await asyncio.wait_for(done.wait(), DEADLINE)
    finally:
        await consumer.stop()  # sends the last deletes
    elapsed = time.perf_counter() - started
    if consumer.stats.succeeded != count:
        raise RuntimeError(f"{consumer.stats.succeeded} of {count} messages handled")
    return count / elapsed


def raw(endpoint: str, url: str, count: int, threads: int) -> float:
    """Events/s of ``threads`` boto3 loops receiving 10 and deleting them."""
    client = _client(endpoint)
    lock, deleted, finished = threading.Lock(), [0], [0.0]
    deadline = time.monotonic() + DEADLINE

    def loop() -> None:
        while deleted[0] < count and time.monotonic() < deadline:
            messages = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                AttributeNames=_SYSTEM_ATTRIBUTES,
            ).get("Messages", [])
            if not messages:
                continue
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            client.delete_message_batch(QueueUrl=url, Entries=entries)
            with lock:
                deleted[0] += len(messages)
                if deleted[0] >= count:
                    finished[0] = finished[0] or time.perf_counter()

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(DEADLINE + 5)
    client.close()
    if deleted[0] < count:
        raise RuntimeError(f"raw: {deleted[0]} of {count} messages deleted")
    return count / (finished[0] - started)


async def compare(
    server: str, endpoint: str, count: int, repeat: int, botocore: bool = True
) -> dict[str, float]:
    """Medians of ours, raw and raw_1thread (and ours_botocore), alternated (order flipped
    each time)."""
    runs: dict[str, Callable[[str], Any]] = {
        "ours": lambda url: ours(endpoint, url, count),
        "raw": lambda url: asyncio.to_thread(raw, endpoint, url, count, RAW_THREADS),
        "raw_1thread": lambda url: asyncio.to_thread(raw, endpoint, url, count, 1),
    }
    if botocore:
        runs["ours_botocore"] = lambda url: ours(endpoint, url, count, transport="botocore")
    results: dict[str, list[float]] = {kind: [] for kind in runs}
    admin = _client(server)
    for repetition in range(repeat):
        for kind in list(runs) if repetition % 2 == 0 else list(runs)[::-1]:
            url = await fill(server, count)
            before = _counts(server).get("deleted", 0)
            results[kind].append(await runs[kind](url))
            if _counts(server).get("deleted", 0) - before < count:
                raise RuntimeError(f"{kind}: not every message was deleted")
            admin.delete_queue(QueueUrl=url)
    return {kind: statistics.median(values) for kind, values in results.items()}


async def latency(server: str, events: int, rate: float) -> list[float]:
    """Milliseconds from dispatch() in app A to the consumer's handler, per event."""
    import httpx
    from fastapi import FastAPI

    from fastapi_events.consumers import SQSConsumer
    from fastapi_events.dispatcher import dispatch
    from fastapi_events.handlers.aws import SQSForwardHandler
    from fastapi_events.handlers.local import LocalHandler
    from fastapi_events.middleware import EventHandlerASGIMiddleware

    url = _client(server).create_queue(QueueName=f"bench-latency-{uuid.uuid4().hex}")["QueueUrl"]
    forwarder = SQSForwardHandler(url, region_name=REGION, endpoint_url=server)
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[forwarder])

    @app.post("/orders/{order}")
    async def place(order: int) -> dict[str, int]:
        dispatch("bench.latency", {"order": order})
        return {"order": order}

    samples: list[float] = []
    handler = LocalHandler()

    @handler.register(event_name="bench.latency")
    async def arrived(event: Any) -> None:
        samples.append((time.time() - event.unix_time) * 1000)

    consumer = SQSConsumer(url, handlers=[handler], region_name=REGION, endpoint_url=server)
    await forwarder.astart()
    async with consumer:
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


def _rounded(eps: dict[str, float], prefix: str = "") -> dict[str, float]:
    out = {f"{prefix}{kind}_eps": round(value, 1) for kind, value in eps.items()}
    out[f"{prefix}ratio"] = round(eps["ours"] / eps["raw"], 3)
    out[f"{prefix}ratio_to_raw_1thread"] = round(eps["ours"] / eps["raw_1thread"], 3)
    if "ours_botocore" in eps:
        out[f"{prefix}botocore_ratio"] = round(eps["ours_botocore"] / eps["raw"], 3)
    return out


async def run(server: str, args: argparse.Namespace) -> dict[str, Any]:
    """The comparison, the latency run, then the comparison at +delay ms."""
    eps = await compare(server, server, args.events, args.repeat)
    samples = await latency(server, args.latency_events, args.rate)
    result: dict[str, Any] = {"wire": "sqs", "events": args.events, **_rounded(eps)}
    result.update(
        latency_p50_ms=round(percentile(samples, 0.5), 2),
        latency_p99_ms=round(percentile(samples, 0.99), 2),
        latency_events=len(samples),
        latency_rate_per_s=args.rate,
        consumer_concurrency=CONCURRENCY,
        raw_threads=RAW_THREADS,
    )
    if args.delay_ms:
        with _proxy(server, args.delay_ms) as endpoint:
            delayed = await compare(
                server, endpoint, args.delayed_events, args.repeat, botocore=False
            )
        result.update(_rounded(delayed, f"delay_{args.delay_ms:g}ms_"))
        result[f"delay_{args.delay_ms:g}ms_events"] = args.delayed_events
    return result


def main() -> None:
    """Parse the arguments, start the light SQS server, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repetitions")
    parser.add_argument("--events", type=int, default=None, help=f"<= {MAX_EVENTS}")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0, help="latency: events/s")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="0: no delayed run")
    args = parser.parse_args()
    args.events = min(args.events or (2000 if args.quick else 10_000), MAX_EVENTS)
    args.delayed_events = min(args.events, 1000 if args.quick else 2000)
    args.latency_events = 400 if args.quick else 1000
    os.environ.update(ENV)
    process, port = _spawn("sqs_light.py")
    try:
        result = asyncio.run(asyncio.wait_for(run(f"http://127.0.0.1:{port}", args), 900))
    finally:
        process.terminate()
        process.wait(10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
