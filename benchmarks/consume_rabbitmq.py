"""Consuming from RabbitMQ: events/s through RabbitMQConsumer vs. aio-pika alone.

    .venv/bin/python benchmarks/consume_rabbitmq.py [--events 10000] [--rounds 3] [--quick]

Needs a RabbitMQ broker on 127.0.0.1 (``$RABBITMQ_URL``, default guest/guest on port 5672).
Before every round, ``--events`` messages are published to a durable queue of this run,
exactly as ``RabbitMQForwardHandler`` writes them (the JSON array body, the metadata headers,
message id, timestamp, persistent). Then one side consumes all of them, with a prefetch of
``--concurrency``, and the clock runs from connecting until the last acknowledgement is sent
and the connection closed:

* ours: a ``RabbitMQConsumer`` (``concurrency=--concurrency``) feeding a ``LocalHandler`` with
  one no-op function: decoding, the handler pipeline, acknowledgements;
* raw: aio-pika's ``queue.consume`` with a callback acknowledging each message
  (``await message.ack()``), nothing decoded.

Rounds alternate (ours first, then raw first); the medians are kept. The queue must be empty
after each round (everything acknowledged). Prints a summary on stderr and ONE JSON line on
stdout: ``{"wire", "events", "ours_eps", "raw_eps", "ratio"}``. Bounded by ``--events``
(at most 20,000), ``--rounds`` and ``--budget`` seconds (60 by default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any

from _stats import emit

__all__ = ["main"]

URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
MAX_EVENTS = 20_000
ROUND_TIMEOUT = 30.0  # seconds one side may take to consume a round's messages


async def fill(channel: Any, queue: str, count: int) -> None:
    """Publish ``count`` messages as the forwarder writes them, to ``queue``."""
    import aio_pika

    from fastapi_events._event import Event
    from fastapi_events._received import amqp_headers
    from fastapi_events.serialization import encode

    async def publish(index: int) -> None:
        event = Event("bench.consumed", {"index": index, "user": "ada"})
        encoded = encode(event)
        headers, content_type = amqp_headers(encoded.attributes)
        message = aio_pika.Message(
            encoded.body,
            headers=headers,
            content_type=content_type,
            message_id=event.id,
            timestamp=event.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await channel.default_exchange.publish(message, queue, timeout=10)

    for start in range(0, count, 500):
        await asyncio.gather(*(publish(i) for i in range(start, min(start + 500, count))))


async def raw(queue_name: str, count: int, concurrency: int) -> float:
    """Seconds for aio-pika alone to consume and acknowledge ``count`` messages."""
    import aio_pika

    done = asyncio.Event()
    acked = 0

    async def on_message(message: Any) -> None:
        nonlocal acked
        await message.ack()
        acked += 1
        if acked == count:
            done.set()

    start = time.perf_counter()
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=concurrency)
    queue = await channel.get_queue(queue_name, ensure=False)
    await queue.consume(on_message)
    await asyncio.wait_for(done.wait(), ROUND_TIMEOUT)
    await connection.close()
    return time.perf_counter() - start


async def ours(queue_name: str, count: int, concurrency: int) -> float:
    """Seconds for RabbitMQConsumer to consume, handle (no-op) and acknowledge ``count``."""
    from fastapi_events.consumers import RabbitMQConsumer
    from fastapi_events.handlers.local import LocalHandler

    handler = LocalHandler()

    @handler.register(event_name="*")
    async def nothing(event: Any) -> None:
        pass

    consumer = RabbitMQConsumer(
        queue_name, handlers=[handler], url=URL, exchange="", concurrency=concurrency
    )
    start = time.perf_counter()
    await consumer.start()
    deadline = time.monotonic() + ROUND_TIMEOUT
    while consumer.stats.succeeded < count and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    await consumer.stop()
    elapsed = time.perf_counter() - start
    assert consumer.stats.succeeded == count, f"ours: {consumer.stats.succeeded} of {count}"
    return elapsed


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate rounds of ours and raw on refilled queues; return the medians."""
    import aio_pika

    name = f"bench.consume.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    queue = await channel.declare_queue(name, durable=True)
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    deadline = time.monotonic() + args.budget
    sides = {"ours": ours, "raw": raw}
    try:
        for round_ in range(args.rounds):
            for side in ("ours", "raw") if round_ % 2 == 0 else ("raw", "ours"):
                await fill(channel, name, args.events)
                elapsed = await sides[side](name, args.events, args.concurrency)
                rates[side].append(args.events / elapsed)
                left = (await channel.declare_queue(name, passive=True)).declaration_result
                assert left.message_count == 0, f"{side}: {left.message_count} left"
            if time.monotonic() > deadline:
                break
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()
    ours_eps, raw_eps = statistics.median(rates["ours"]), statistics.median(rates["raw"])
    print(
        f"rounds {len(rates['ours'])}, ours {[round(r) for r in rates['ours']]}, "
        f"raw {[round(r) for r in rates['raw']]}",
        file=sys.stderr,
    )
    return {
        "wire": "rabbitmq",
        "events": args.events,
        "ours_eps": round(ours_eps, 1),
        "raw_eps": round(raw_eps, 1),
        "ratio": round(ours_eps / raw_eps, 3),
    }


def main() -> None:
    """Parse the arguments, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of rounds at most")
    parser.add_argument("--quick", action="store_true", help="2,000 events")
    args = parser.parse_args()
    if args.quick:
        args.events = min(args.events, 2_000)
    args.events = max(1, min(args.events, MAX_EVENTS))
    emit(asyncio.run(measure(args)))


if __name__ == "__main__":
    main()
