"""SNS forwarding: events/s through the pipeline vs boto3 alone, and the loop's stalls.

Starts moto's server in its own process on 127.0.0.1 (``sqs_server.py``: it serves SNS too,
and counts the calls it answers) with one topic and no subscription. Each round publishes
``--events`` events twice, in alternating order:

* ``ours``: ``dispatch()`` in ``event_scope`` blocks of ``--chunk`` events (as requests
  would), ``--concurrency`` blocks at a time, through ``SNSForwardHandler`` (PublishBatch of
  10, at most two calls in flight), until its flush at ``aclose()``;
* ``raw``: the same messages, serialized beforehand (body and attributes as the forwarder
  makes them), published by boto3's ``publish_batch`` in batches of 10 from two worker
  threads: the same batching and concurrency, with no event, pipeline or encoding cost.

A ticker task sleeping 1 ms records how late it wakes: the event loop's largest stall.
Bounded: ``--rounds`` rounds, and no new round after ``--budget`` seconds. Prints a summary
and one JSON line. Run from the project root: ``.venv/bin/python benchmarks/forward_sns.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

from _stats import emit
from forwarding import Ticker, _counts, _start_moto

__all__ = ["main"]

REGION = "us-east-1"
BATCH = 10
IN_FLIGHT = 2


def _entries(count: int) -> list[dict[str, Any]]:
    """The PublishBatch entries of ``count`` events, encoded as the forwarder encodes them."""
    from fastapi_events import Event
    from fastapi_events.serialization import encode

    entries = []
    for index in range(count):
        message = encode(Event("bench.forwarded", {"index": index, "user": "ada"}))
        attributes = {
            k: {"DataType": "String", "StringValue": v} for k, v in message.attributes.items()
        }
        entries.append(
            {
                "Id": str(index % BATCH),
                "Message": message.body.decode(),
                "MessageAttributes": attributes,
            }
        )
    return entries


async def _raw(client: Any, arn: str, entries: list[dict[str, Any]]) -> float:
    """Publish ``entries`` in batches of 10, two calls at a time; seconds taken."""
    batches = [entries[i : i + BATCH] for i in range(0, len(entries), BATCH)]

    async def worker() -> None:
        while batches:
            batch = batches.pop(0)
            response = await asyncio.to_thread(
                client.publish_batch, TopicArn=arn, PublishBatchRequestEntries=batch
            )
            assert not response.get("Failed"), response["Failed"]

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - start


async def _handler(arn: str, endpoint: str) -> Any:
    """A forwarder with its client made, as after the application's startup."""
    from fastapi_events.handlers.sns import SNSForwardHandler

    handler = SNSForwardHandler(arn, REGION, endpoint_url=endpoint)
    await handler.astart()
    return handler


async def _ours(handler: Any, args: argparse.Namespace) -> tuple[float, int]:
    """Dispatch the events through the forwarder until its flush; seconds and failures."""
    from fastapi_events import dispatch, event_scope

    failures: list[Any] = []
    blocks = list(range(0, args.events, args.chunk))

    async def worker() -> None:
        while blocks:
            first = blocks.pop(0)
            async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
                for index in range(first, min(first + args.chunk, args.events)):
                    dispatch("bench.forwarded", {"index": index, "user": "ada"})
            await asyncio.sleep(0)  # a request ends: a server would read the next one

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    await handler.aclose()
    return time.perf_counter() - start, len(failures)


async def _round(
    client: Any, arn: str, endpoint: str, args: argparse.Namespace, flip: bool
) -> dict[str, Any]:
    entries = _entries(args.events)
    ticker = Ticker()
    result: dict[str, Any] = {}
    for name in ("ours", "raw") if flip else ("raw", "ours"):
        handler = await _handler(arn, endpoint) if name == "ours" else None
        ticker.start()
        if handler is None:
            elapsed = await _raw(client, arn, entries)
        else:
            elapsed, result["failures"] = await _ours(handler, args)
        result[name] = {"events_per_s": args.events / elapsed, "stall": await ticker.stop()}
    result["ratio"] = result["ours"]["events_per_s"] / result["raw"]["events_per_s"]
    return result


async def _measure(endpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    client = boto3.client("sns", region_name=REGION, endpoint_url=endpoint)
    arn = client.create_topic(Name="bench-forwarding")["TopicArn"]
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.3)
    idle = await ticker.stop()
    await _raw(client, arn, _entries(200))  # warm both paths: connections, imports
    warm = argparse.Namespace(**{**vars(args), "events": 200})
    await _ours(await _handler(arn, endpoint), warm)
    before = _counts(endpoint).get("PublishBatch", 0)
    rounds: list[dict[str, Any]] = []
    started = time.perf_counter()
    while len(rounds) < args.rounds and time.perf_counter() - started < args.budget:
        rounds.append(await _round(client, arn, endpoint, args, flip=len(rounds) % 2 == 1))
    calls = _counts(endpoint).get("PublishBatch", 0) - before
    return _summary(rounds, calls, idle, args)


def _summary(
    rounds: list[dict[str, Any]], calls: int, idle: dict[str, float], args: argparse.Namespace
) -> dict[str, Any]:
    def median(path: tuple[str, ...]) -> float:
        values = []
        for result in rounds:
            value: Any = result
            for key in path:
                value = value[key]
            values.append(value)
        return statistics.median(values)

    return {
        "events": args.events,
        "rounds": len(rounds),
        "ours_events_per_s": median(("ours", "events_per_s")),
        "raw_events_per_s": median(("raw", "events_per_s")),
        "ratio": median(("ratio",)),
        "ours_max_stall_ms": max(r["ours"]["stall"]["max_ms"] for r in rounds),
        "raw_max_stall_ms": max(r["raw"]["stall"]["max_ms"] for r in rounds),
        "ours_p99_stall_ms": median(("ours", "stall", "p99_ms")),
        "idle_max_stall_ms": idle["max_ms"],
        "publish_batch_calls_per_event": calls / (2 * args.events * len(rounds)),
        "failures": sum(r["failures"] for r in rounds),
    }


def main() -> None:
    """Parse the arguments, start moto, measure, print the summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=180.0, help="seconds; no new round after")
    args = parser.parse_args()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        os.environ[name] = value
    moto, endpoint = _start_moto()
    try:
        result = asyncio.run(_measure(endpoint, args))
    finally:
        moto.terminate()
        moto.wait(10)
    sys.stderr.write(
        f"{result['events']} events x {result['rounds']} rounds: ours "
        f"{result['ours_events_per_s']:.0f} events/s, raw boto3 {result['raw_events_per_s']:.0f} "
        f"events/s, ratio {result['ratio']:.2f}; largest loop stall ours "
        f"{result['ours_max_stall_ms']:.1f} ms (p99 {result['ours_p99_stall_ms']:.1f} ms), raw "
        f"{result['raw_max_stall_ms']:.1f} ms, idle {result['idle_max_stall_ms']:.1f} ms; "
        f"{result['publish_batch_calls_per_event']:.3f} PublishBatch/event, "
        f"{result['failures']} failures\n"
    )
    emit(result)


if __name__ == "__main__":
    main()
