"""Consuming from Pub/Sub: PubSubConsumer vs the raw SubscriberClient, same run.

``.venv/bin/python benchmarks/consume_pubsub.py [--quick]`` against the Pub/Sub emulator at
``$PUBSUB_EMULATOR_HOST``, or one started on a free loopback port (Google's
``google-cloud-cli-pubsub-emulator``, which needs Java). Prints one JSON line:
``{"wire": "pubsub", "events": N, "ours_eps": ..., "raw_eps": ..., "ratio": ...}``.

Before each run, ``--events`` messages (bodies and attributes as
``GoogleCloudSimplePubSubHandler`` writes them) are published to a fresh topic and
subscription (not timed). Then, timed from start until the last message was handled:

* ours: a ``PubSubConsumer`` (``concurrency=--concurrency``) decoding each message back into
  its event and handing it to a local handler with one no-op function, acknowledging each;
* raw: ``SubscriberClient.subscribe`` with the same flow control (``max_messages``), its
  default scheduler, and a callback that acknowledges each message.

After one warm-up run of each, the two alternate (``--repeats`` times each, order flipped
every time); the medians of events/s are compared. Every run is bounded by
``--time-limit`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _stats import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.servers.pubsub finds and starts the emulator

__all__ = ["main"]

PROJECT = "bench-project"


@contextmanager
def _emulator() -> Iterator[str]:
    """``$PUBSUB_EMULATOR_HOST``, or an emulator of our own on 127.0.0.1."""
    if host := os.environ.get("PUBSUB_EMULATOR_HOST"):
        yield host
        return
    from tests.servers.pubsub import Emulator, find_emulator

    launcher = find_emulator()
    if launcher is None:
        raise SystemExit("no PUBSUB_EMULATOR_HOST and no Pub/Sub emulator installed")
    emulator = Emulator(launcher)
    emulator.wait_ready()
    try:
        yield emulator.host
    finally:
        emulator.stop()


class Bench:
    """Admin clients, and the messages (encoded once) every run publishes."""

    def __init__(self, events: int) -> None:
        from google.cloud import pubsub_v1

        from fastapi_events._event import Event
        from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler

        batching = pubsub_v1.types.BatchSettings(max_messages=1000, max_latency=0.05)
        self.publisher = pubsub_v1.PublisherClient(batch_settings=batching)
        self.subscriber = pubsub_v1.SubscriberClient()
        encoder = GoogleCloudSimplePubSubHandler(PROJECT, "encoder")
        self.messages = [
            encoder.encode(Event("bench.consumed", {"index": i, "user": "ada"}))
            for i in range(events)
        ]

    def fresh_subscription(self) -> tuple[str, str]:
        """A new topic holding every message, and its subscription's id."""
        suffix = uuid.uuid4().hex[:10]
        topic = self.publisher.create_topic(name=f"projects/{PROJECT}/topics/bench-{suffix}").name
        subscription = f"projects/{PROJECT}/subscriptions/bench-{suffix}"
        self.subscriber.create_subscription(
            request={"name": subscription, "topic": topic, "ack_deadline_seconds": 60}
        )
        futures = [
            self.publisher.publish(topic, m.body, **dict(m.attributes)) for m in self.messages
        ]
        for future in futures:
            future.result(timeout=60)
        return topic, subscription

    def delete(self, topic: str, subscription: str) -> None:
        """Remove a run's topic and subscription."""
        self.subscriber.delete_subscription(subscription=subscription)
        self.publisher.delete_topic(topic=topic)


async def _ours(subscription: str, args: argparse.Namespace) -> float:
    from fastapi_events.consumers import PubSubConsumer
    from fastapi_events.handlers.local import LocalHandler

    handler = LocalHandler()

    @handler.register(event_name="bench.*")
    async def no_op(event: Any) -> None:
        pass

    consumer = PubSubConsumer(
        PROJECT, subscription.rpartition("/")[2], handlers=[handler],
        concurrency=args.concurrency, broker_backoff=False,
    )  # fmt: skip
    start = time.perf_counter()
    await consumer.start()
    deadline = start + args.time_limit
    try:
        while consumer.stats.succeeded < args.events and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
    finally:
        await consumer.stop()
    assert consumer.stats.succeeded == args.events, consumer.stats
    return elapsed


def _raw(subscriber: Any, subscription: str, args: argparse.Namespace) -> float:
    from google.cloud import pubsub_v1

    lock, done, count = threading.Lock(), threading.Event(), [0]

    def callback(message: Any) -> None:
        message.ack()
        with lock:
            count[0] += 1
            if count[0] == args.events:
                done.set()

    flow = pubsub_v1.types.FlowControl(max_messages=args.concurrency)
    start = time.perf_counter()
    stream = subscriber.subscribe(subscription, callback, flow_control=flow)
    finished = done.wait(args.time_limit)
    elapsed = time.perf_counter() - start
    stream.cancel()
    stream.result(timeout=30)
    assert finished, f"raw: {count[0]} of {args.events} in {args.time_limit}s"
    return elapsed


def _run(bench: Bench, side: str, args: argparse.Namespace) -> float:
    topic, subscription = bench.fresh_subscription()
    try:
        if side == "ours":
            return asyncio.run(_ours(subscription, args))
        return _raw(bench.subscriber, subscription, args)
    finally:
        bench.delete(topic, subscription)


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args.events)
    _run(bench, "ours", args)  # warm-up, not counted (first-use imports and caches)
    _run(bench, "raw", args)
    seconds: dict[str, list[float]] = {"ours": [], "raw": []}
    for repeat in range(args.repeats):
        for side in ("raw", "ours") if repeat % 2 == 0 else ("ours", "raw"):
            seconds[side].append(_run(bench, side, args))
    bench.subscriber.close()
    bench.publisher.transport.close()
    rate = {
        side: statistics.median(args.events / t for t in runs) for side, runs in seconds.items()
    }
    return {
        "wire": "pubsub",
        "events": args.events,
        "ours_eps": round(rate["ours"], 1),
        "raw_eps": round(rate["raw"], 1),
        "ratio": round(rate["ours"] / rate["raw"], 3),
    }


def main() -> None:
    """Parse the arguments, find or start the emulator, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 events, 3 repeats")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per run")
    args = parser.parse_args()
    if args.quick:
        args.events = 1_000
    args.events = min(args.events, 20_000)
    with _emulator() as host:
        os.environ["PUBSUB_EMULATOR_HOST"] = host  # before any client is created
        emit(_measure(args))


if __name__ == "__main__":
    main()
