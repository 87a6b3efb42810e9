"""RabbitMQ forwarding: events/s through the pipeline vs. aio-pika alone, and loop stalls.

    .venv/bin/python benchmarks/forward_rabbitmq.py [--events 10000] [--rounds 5]

Needs a RabbitMQ broker on 127.0.0.1 (``$RABBITMQ_URL``, default guest/guest on port 5672).
Both sides publish the same messages (body, headers, properties; persistent) to one topic
exchange and durable queue, with publisher confirms, in batches of ``--chunk`` messages whose
confirms are awaited together, ``--concurrency`` batches at a time:

* ours: ``--events`` events dispatched in ``event_scope`` blocks of ``--chunk`` events (as
  requests would), forwarded by ``RabbitMQForwardHandler``: dispatch, encoding, batching and
  accounting included;
* raw: the same serialized messages (encoded before the clock starts) published with
  ``exchange.publish`` and ``asyncio.gather`` per batch.

Rounds alternate (ours first, then raw first); the median of each is kept, with the
process's CPU time per event (steadier than events/s on a shared machine, where the broker
and other processes compete for the cores). The queue is
purged after every round. A ticker sleeping 1 ms records how late it wakes: the event loop's
largest stall while forwarding. Prints a summary and one JSON line; bounded by ``--events``
and ``--rounds``, and stops after ``--budget`` seconds of rounds.
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
from forwarding import Ticker
from forwarding import _forward as ours  # the same requests as scenario 6

__all__ = ["main"]

URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
KEY = "bench.forwarded"  # the name forwarding._forward dispatches


def serialized(count: int) -> list[tuple[bytes, dict[str, str], str | None, Any]]:
    """What the handler would send for ``count`` events: body, headers, content type, event."""
    from fastapi_events._event import Event
    from fastapi_events._received import amqp_headers
    from fastapi_events.serialization import encode

    messages = []
    for index in range(count):
        event = Event(KEY, {"index": index, "user": "ada"})
        encoded = encode(event)
        headers, content_type = amqp_headers(encoded.attributes)
        messages.append((encoded.body, headers, content_type, event))
    return messages


async def raw(name: str, messages: list[Any], args: argparse.Namespace) -> float:
    """Seconds for aio-pika alone to publish ``messages`` the way the handler batches them,
    on a connection of its own (opened and closed inside the clock, as the handler's is)."""
    import aio_pika

    batches = [messages[i : i + args.chunk] for i in range(0, len(messages), args.chunk)]

    async def publish(body: bytes, headers: Any, content_type: Any, event: Any) -> None:
        message = aio_pika.Message(
            body,
            headers=headers,
            content_type=content_type,
            message_id=event.id,
            timestamp=event.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, KEY, mandatory=True, timeout=10)

    async def worker() -> None:
        while batches:
            await asyncio.gather(*(publish(*message) for message in batches.pop()))

    start = time.perf_counter()
    connection = await aio_pika.connect(URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    exchange = await channel.declare_exchange(name, "topic", durable=True)
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    await connection.close()
    return time.perf_counter() - start


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate rounds of ours and raw; return events/s, their ratio and the stalls."""
    import aio_pika

    from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler

    name = f"bench.rabbitmq.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    exchange = await channel.declare_exchange(name, "topic", durable=True)
    queue = await channel.declare_queue(name, durable=True)
    await queue.bind(exchange, "#")
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    cpu: dict[str, list[float]] = {"ours": [], "raw": []}
    stalls: dict[str, list[dict[str, float]]] = {"ours": [], "raw": []}
    ticker, deadline = Ticker(), time.monotonic() + args.budget
    try:
        for round_ in range(args.rounds):
            order = ("ours", "raw") if round_ % 2 == 0 else ("raw", "ours")
            for side in order:
                handler = RabbitMQForwardHandler(KEY, url=URL, exchange=name)
                messages = serialized(args.events) if side == "raw" else []
                ticker.start()
                cpu_start = time.process_time()
                if side == "ours":
                    elapsed = await ours(handler, args)
                else:
                    elapsed = await raw(name, messages, args)
                cpu[side].append((time.process_time() - cpu_start) / args.events * 1e6)
                stalls[side].append(await ticker.stop())
                rates[side].append(args.events / elapsed)
                stored = (await queue.purge()).message_count
                assert stored == args.events, f"{side}: {stored} of {args.events} stored"
            if time.monotonic() > deadline:
                break
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
        await connection.close()
    ours_rate, raw_rate = statistics.median(rates["ours"]), statistics.median(rates["raw"])
    return {
        "events": args.events,
        "rounds": len(rates["ours"]),
        "ours_events_per_s": round(ours_rate),
        "raw_events_per_s": round(raw_rate),
        "ratio": round(ours_rate / raw_rate, 3),
        "ours_cpu_us_per_event": round(statistics.median(cpu["ours"]), 1),
        "raw_cpu_us_per_event": round(statistics.median(cpu["raw"]), 1),
        "ours_max_stall_ms": round(max(s["max_ms"] for s in stalls["ours"]), 2),
        "raw_max_stall_ms": round(max(s["max_ms"] for s in stalls["raw"]), 2),
        "ours_p99_stall_ms": round(max(s["p99_ms"] for s in stalls["ours"]), 2),
        "raw_p99_stall_ms": round(max(s["p99_ms"] for s in stalls["raw"]), 2),
    }


def main() -> None:
    """Parse the arguments, measure, print a summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of rounds at most")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    print(", ".join(f"{key} {value}" for key, value in result.items()), file=sys.stderr)
    emit(result)


if __name__ == "__main__":
    main()
