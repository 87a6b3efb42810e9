"""Cross-request batching of the SQS forwarder (``linger``) at a real round-trip time:
requests of 3 events, the light SQS server behind a proxy adding ``--delay-ms`` (20) to
every call (``sqs_light.py``, ``delay_proxy.py``, as in ``forwarding_rtt.py``).

One worker process measures every linger value in the same run, interleaved (the order is
flipped every round, ``--rounds``), each with a fresh handler on the same server:

- paced: requests of 3 events started at ``--rate`` requests/s (1,000: the issue's goal)
  for ``--seconds``; SendMessageBatch calls per event (counted by the server), events/s
  achieved, each drain's time (p50/p99, the time a request's task lives on after its
  response), the event loop's stalls (a 1 ms ticker's lateness, p99/max);
- closed loop: ``--concurrency`` requests of 3 events at a time, as fast as they go
  (at most 20,000 events and 30 s per point): events/s and calls per event.

    .venv/bin/python benchmarks/forwarding_linger.py [--lingers 0 0.002 0.005 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from _stats import emit, median, percentile
from forwarding_rtt import ENV, HERE, QUEUE, Ticker, _counts, _proxy, _server

__all__ = ["main"]

MAX_EVENTS = 20_000
MAX_SECONDS = 30.0
CHUNK = 3


def _handler(server: str, endpoint: str, linger: float) -> Any:
    from fastapi_events.handlers.aws import SQSForwardHandler

    url = f"{server}/123456789012/{QUEUE}"
    return SQSForwardHandler(url, "us-east-1", endpoint_url=endpoint, linger=linger)


async def _request(handler: Any, first: int, drains: list[float]) -> None:
    from fastapi_events import dispatch, event_scope

    scope = event_scope(handlers=[handler])
    await scope.__aenter__()
    for index in range(first, first + CHUNK):
        dispatch("bench.linger", {"index": index, "user": "ada"})
    start = time.perf_counter()  # the response would be complete here: the drain begins
    await scope.__aexit__(None, None, None)
    drains.append(time.perf_counter() - start)


async def _paced(handler: Any, rate: float, seconds: float) -> dict[str, Any]:
    drains: list[float] = []
    tasks = []
    count = int(rate * seconds)
    ticker = Ticker()
    ticker.start()
    start = time.perf_counter()
    for number in range(count):
        await asyncio.sleep(max(0.0, start + number / rate - time.perf_counter()))
        tasks.append(asyncio.ensure_future(_request(handler, number * CHUNK, drains)))
    await asyncio.wait_for(asyncio.gather(*tasks), MAX_SECONDS)
    elapsed = time.perf_counter() - start
    stall = await ticker.stop()
    return {
        "events": count * CHUNK,
        "events_per_s": count * CHUNK / elapsed,
        "drain_p50_ms": percentile(drains, 0.5) * 1e3,
        "drain_p99_ms": percentile(drains, 0.99) * 1e3,
        "stall_p99_ms": stall["p99_ms"],
        "stall_max_ms": stall["max_ms"],
    }


async def _closed(handler: Any, concurrency: int, events: int) -> dict[str, Any]:
    numbers = iter(range(0, events, CHUNK))
    deadline = time.perf_counter() + MAX_SECONDS
    drains: list[float] = []

    async def worker() -> None:
        for first in numbers:
            if time.perf_counter() > deadline:
                return
            await _request(handler, first, drains)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"events": len(drains) * CHUNK, "events_per_s": len(drains) * CHUNK / elapsed}


async def _measure(args: argparse.Namespace, linger: float) -> dict[str, Any]:
    handler = _handler(args.server, args.endpoint, linger)
    await handler.astart()
    before = _counts(args.server)
    paced = await _paced(handler, args.rate, args.seconds)
    middle = _counts(args.server)
    closed = await _closed(handler, args.concurrency, args.events)
    after = _counts(args.server)
    await handler.aclose()
    calls = [
        (b.get("SendMessageBatch", 0) - a.get("SendMessageBatch", 0)) / max(n, 1)
        for a, b, n in ((before, middle, paced["events"]), (middle, after, closed["events"]))
    ]
    paced["calls_per_event"], closed["calls_per_event"] = calls
    return {"linger": linger, "paced": paced, "closed": closed}


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[float, list[dict[str, Any]]] = {linger: [] for linger in args.lingers}
    for round_ in range(args.rounds):
        order = args.lingers if round_ % 2 == 0 else list(reversed(args.lingers))
        for linger in order:
            runs[linger].append(await _measure(args, linger))
    return {"runs": {str(k): v for k, v in runs.items()}}


def _summary(runs: list[dict[str, Any]], phase: str, key: str) -> float:
    return median([run[phase][key] for run in runs])


def table(result: dict[str, Any], args: argparse.Namespace) -> str:
    """Medians over the rounds, one row per linger."""
    lines = [
        f"SQS forwarding, requests of {CHUNK} events, +{args.delay_ms:.0f} ms per call, "
        f"medians of {args.rounds} interleaved rounds",
        f"        | paced at {args.rate:.0f} requests/s"
        f"                           | closed loop, {args.concurrency} at a time",
        "  linger | calls/ev  events/s  drain p50   p99  stall p99   max | calls/ev  events/s",
    ]
    for linger, runs in result["runs"].items():
        p = {k: _summary(runs, "paced", k) for k in runs[0]["paced"]}
        c = {k: _summary(runs, "closed", k) for k in runs[0]["closed"]}
        lines.append(
            f"  {float(linger):>6.3f} | {p['calls_per_event']:>8.3f} {p['events_per_s']:>9.0f}"
            f" {p['drain_p50_ms']:>10.1f} {p['drain_p99_ms']:>5.1f} {p['stall_p99_ms']:>10.2f}"
            f" {p['stall_max_ms']:>5.1f} | {c['calls_per_event']:>8.3f} {c['events_per_s']:>9.0f}"
        )
    return "\n".join(lines)


def _create_queue(server: str) -> None:
    import boto3

    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=server)
    client.create_queue(QueueName=QUEUE)
    client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lingers", type=float, nargs="+", default=[0, 0.002, 0.005, 0.01])
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--rate", type=float, default=1000, help="paced requests/s")
    parser.add_argument("--seconds", type=float, default=3.0, help="paced phase")
    parser.add_argument("--concurrency", type=int, default=200, help="closed loop")
    parser.add_argument("--events", type=int, default=9000, help=f"closed loop, <= {MAX_EVENTS}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    """Start the server and the proxy, run the worker, print the table."""
    import subprocess

    args = _parser().parse_args()
    args.events = min(args.events, MAX_EVENTS)
    args.seconds = min(args.seconds, MAX_SECONDS / 2)
    os.environ.update(ENV)
    if args.worker:
        emit(asyncio.run(_worker(args)))
        return
    with _server() as server, _proxy(server, args.delay_ms) as endpoint:
        _create_queue(server)
        command = [sys.executable, str(HERE / "forwarding_linger.py"), "--worker"]
        command += ["--server", server, "--endpoint", endpoint, "--rounds", str(args.rounds)]
        command += ["--lingers", *map(str, args.lingers), "--rate", str(args.rate)]
        command += ["--seconds", str(args.seconds), "--concurrency", str(args.concurrency)]
        command += ["--events", str(args.events)]
        limit = args.rounds * len(args.lingers) * (2 * MAX_SECONDS + 10)
        out = subprocess.run(
            command, capture_output=True, text=True, check=True, cwd=HERE, timeout=limit
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result) if args.json else table(result, args))


if __name__ == "__main__":
    main()
