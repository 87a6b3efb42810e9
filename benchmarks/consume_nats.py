"""Consuming from NATS JetStream: NATSConsumer vs the raw nats-py client, same run.

``.venv/bin/python benchmarks/consume_nats.py [--quick] [--url nats://127.0.0.1:4222]``
(without a server answering there, a ``nats-server -js`` is started on a free loopback
port). Prints one JSON line: ``{"wire", "events", "ours_eps", "raw_eps", "ratio"}``.

Before each run the stream is purged and ``--events`` messages are published to it, as
``NATSForwardHandler`` encodes them (the JSON array body, ``Nats-Msg-Id`` and the event
headers). Then, timed from the creation of a new durable consumer until the last
acknowledgement was flushed to the server:

* ours: ``NATSConsumer`` (``concurrency=--batch``) decodes each message back into its
  event, hands it to a ``LocalHandler`` whose one function does nothing, and acks it;
* raw: nats-py's ``pull_subscribe`` + ``fetch(--batch)`` and ``msg.ack()`` for each message
  (no decoding, no handler), then one flush.

After a warm-up run of each, the two alternate (``--repeats`` times each, order flipped every
time), each on a connection of its own; the medians of events/s are reported. Every run is
bounded by its count and by ``--time-limit`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import uuid
from typing import Any

from _stats import emit
from forward_nats import _server

__all__ = ["main"]


async def _publish(nc: Any, js: Any, stream: str, messages: list[Any]) -> None:
    """Purge ``stream`` and store ``messages`` in it (plain publishes, then a check)."""
    await js.purge_stream(stream)
    for index, message in enumerate(messages):
        await nc.publish(f"{stream}.orders", message.body, headers=dict(message.attributes))
        if index % 1000 == 999:
            await nc.flush()
    await nc.flush()
    deadline = time.monotonic() + 30
    while (await js.stream_info(stream)).state.messages < len(messages):
        assert time.monotonic() < deadline, "the stream did not store every message"
        await asyncio.sleep(0.01)


async def _ours(nc: Any, stream: str, count: int, args: argparse.Namespace) -> float:
    from fastapi_events.consumers import NATSConsumer
    from fastapi_events.handlers.local import LocalHandler

    handler = LocalHandler()

    @handler.register
    async def nothing(event: Any) -> None:
        pass

    done = asyncio.Event()

    class Counted(NATSConsumer):
        acked = 0

        async def ack(self, deliveries: Any) -> None:
            await super().ack(deliveries)
            self.acked += len(deliveries)
            if self.acked >= count:
                done.set()

    durable = f"ours_{uuid.uuid4().hex[:8]}"
    consumer = Counted(
        stream, durable=durable, handlers=[handler], client=nc, concurrency=args.batch
    )
    start = time.perf_counter()
    await consumer.start()
    try:
        await asyncio.wait_for(done.wait(), args.time_limit)
        elapsed = time.perf_counter() - start
    finally:
        await consumer.stop()
    await nc.jetstream().delete_consumer(stream, durable)
    return elapsed


async def _raw(nc: Any, stream: str, count: int, args: argparse.Namespace) -> float:
    from nats.js.api import AckPolicy, ConsumerConfig

    js = nc.jetstream()
    durable = f"raw_{uuid.uuid4().hex[:8]}"
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, max_deliver=-1)
    start = time.perf_counter()
    deadline = time.monotonic() + args.time_limit
    subscription = await js.pull_subscribe(
        f"{stream}.orders", durable=durable, stream=stream, config=config
    )
    acked = 0
    while acked < count:
        assert time.monotonic() < deadline, "raw: out of time"
        try:
            messages = await subscription.fetch(args.batch, timeout=2.0)
        except asyncio.TimeoutError:
            continue
        for message in messages:
            await message.ack()
        acked += len(messages)
    await nc.flush()
    elapsed = time.perf_counter() - start
    await subscription.unsubscribe()
    await js.delete_consumer(stream, durable)
    return elapsed


async def _measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import nats

    from fastapi_events._event import Event
    from fastapi_events.handlers.nats import NATSForwardHandler

    stream = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    admin, ours_nc, raw_nc = [await nats.connect(url) for _ in range(3)]
    js = admin.jetstream()
    await js.add_stream(name=stream, subjects=[f"{stream}.>"])
    encoder = NATSForwardHandler(f"{stream}.orders", url=url)
    sides = {"ours": (_ours, ours_nc), "raw": (_raw, raw_nc)}
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    try:
        for repeat in range(args.repeats + 1):  # the first round warms up, not counted
            order = ["raw", "ours"] if repeat % 2 == 0 else ["ours", "raw"]
            for side in order:
                events = [Event("order.placed", {"order": i}) for i in range(args.events)]
                await _publish(admin, js, stream, [encoder.encode(e) for e in events])
                gc.collect()
                run, nc = sides[side]
                elapsed = await run(nc, stream, args.events, args)
                if repeat:
                    rates[side].append(args.events / elapsed)
    finally:
        await js.delete_stream(stream)
        for nc in (admin, ours_nc, raw_nc):
            await nc.close()
    ours, raw = statistics.median(rates["ours"]), statistics.median(rates["raw"])
    return {
        "wire": "nats",
        "events": args.events,
        "ours_eps": round(ours, 1),
        "raw_eps": round(raw, 1),
        "ratio": round(ours / raw, 3),
    }


def main() -> None:
    """Parse the arguments, find or start the server, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--quick", action="store_true", help="2,000 events, 3 repeats")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="fetch size / concurrency")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per run")
    args = parser.parse_args()
    if args.quick:
        args.events, args.repeats = 2_000, 3
    args.events = max(1, min(args.events, 20_000))
    args.repeats = max(3, args.repeats)
    with _server(args.url) as url:
        emit(asyncio.run(_measure(url, args)))


if __name__ == "__main__":
    main()
