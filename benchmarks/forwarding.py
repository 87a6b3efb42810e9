"""Scenario 6, one worker process: forwarding events to moto's SQS server.

Dispatches ``--events`` events through ``SQSForwardHandler`` in ``event_scope`` blocks of
``--chunk`` events (as requests would), ``--concurrency`` blocks at a time, then closes the
handler (its flush). Measures events/s, SendMessageBatch calls per event (counted by the
moto process, see ``sqs_server.py``) and the event loop's largest stall (a ticker task
sleeping 1 ms records how late it wakes). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from _stats import emit, percentile

__all__ = ["main"]

HERE = Path(__file__).parent
TICK = 0.001


class Ticker:
    """Records how late a 1 ms sleep wakes up: the event loop's stalls."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            self.lateness.append(time.perf_counter() - start - TICK)

    def start(self) -> None:
        """Start ticking on the running loop."""
        self.lateness.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        """Stop; return the largest and p99 lateness in ms."""
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return {
            "max_ms": max(self.lateness, default=float("nan")) * 1e3,
            "p99_ms": percentile(self.lateness, 0.99) * 1e3,
        }


def _start_moto() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "sqs_server.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    port = json.loads(process.stdout.readline())["port"]
    return process, f"http://127.0.0.1:{port}"


def _counts(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{endpoint}/__bench__/counts", timeout=10) as response:
        counts: dict[str, int] = json.loads(response.read())
        return counts


def _queue(endpoint: str) -> tuple[Any, str]:
    import boto3

    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    return client, client.create_queue(QueueName="bench-forwarding")["QueueUrl"]


async def _forward(handler: Any, args: argparse.Namespace) -> float:
    from fastapi_events import dispatch, event_scope

    blocks = list(range(0, args.events, args.chunk))

    async def worker() -> None:
        while blocks:
            first = blocks.pop()
            async with event_scope(handlers=[handler]):
                for index in range(first, min(first + args.chunk, args.events)):
                    dispatch("bench.forwarded", {"index": index, "user": "ada"})
            await asyncio.sleep(0)  # a request ends: a server would read the next one

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    await handler.aclose()
    return time.perf_counter() - start


def _handler_class(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


async def _measure(endpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    _client, queue_url = _queue(endpoint)
    handler = _handler_class(args.handler)(
        queue_url=queue_url, region_name="us-east-1", endpoint_url=endpoint
    )
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.3)
    idle = await ticker.stop()
    ticker.start()
    if hasattr(handler, "astart"):  # what the application's startup does
        await handler.astart()
    from fastapi_events import event_scope

    async with event_scope(handlers=[handler]):  # as building the middleware at startup
        pass
    startup = await ticker.stop()
    # The same requests with a handler that drops the events: the stalls the simulated
    # requests cause themselves (dispatching, draining), without any forwarding.
    from fastapi_events.handlers.null import NullHandler

    ticker.start()
    await _forward(NullHandler(), args)
    baseline = await ticker.stop()
    before = _counts(endpoint)
    ticker.start()
    elapsed = await _forward(handler, args)
    stall = await ticker.stop()
    after = _counts(endpoint)
    calls = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    return {
        "events": args.events,
        "events_per_s": args.events / elapsed,
        "send_message_batch_calls": calls.get("SendMessageBatch", 0),
        "send_message_calls": calls.get("SendMessage", 0),
        "messages_stored": calls.get("stored", 0),
        "stall": stall,
        "idle_stall": idle,
        "startup_stall": startup,
        "no_forwarding_stall": baseline,
    }


def main() -> None:
    """Parse the arguments, start moto, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--handler",
        default="fastapi_events.handlers.aws:SQSForwardHandler",
        help="module:Class of the forwarder to measure",
    )
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="sys.setswitchinterval, seconds"
    )
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        os.environ[name] = value
    try:
        _handler_class(args.handler)
    except (ImportError, AttributeError) as exc:
        emit({"error": f"n/a (handlers.aws not available: {exc})"})
        return
    moto, endpoint = _start_moto()
    try:
        emit(asyncio.run(_measure(endpoint, args)))
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
