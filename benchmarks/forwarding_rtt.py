"""SQS forwarding at a real round-trip time: events/s with a loopback proxy adding 0, 5,
20 and 50 ms to every call (``delay_proxy.py``) in front of a light SQS-protocol server
(``sqs_light.py``; moto's 4-5 ms of CPU per call would be the thing measured).

For each delay, a fresh worker process dispatches ``--events`` events through
``SQSForwardHandler`` in ``event_scope`` blocks of ``--chunk`` events, ``--concurrency``
blocks at a time (as requests would), then closes the handler. It reports events/s,
SendMessageBatch calls per event (counted by the server), the event loop's stalls (a
1 ms ticker's lateness: p50, p99, max) and the growth of its peak RSS. Before the
points, the same batch is sent with plain boto3 calls, one at a time, to measure
botocore's CPU per call (thread CPU time): the *ceiling* is the events/s that CPU
allows one process (10 events per call), and each point is reported as a share of it.

The run checks the server's MD5OfMessageBody and MD5OfMessageAttributes against the
request (botocore itself does not check them) and fails loudly on a mismatch.

    .venv/bin/python benchmarks/forwarding_rtt.py [--quick] [--handler mod:Class]

Every point is bounded: at most 20,000 events and 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _stats import emit, percentile

__all__ = ["main", "run"]

HERE = Path(__file__).parent
DELAYS_MS = (0, 5, 20, 50)
MAX_EVENTS = 20_000
MAX_SECONDS = 60.0
TICK = 0.001
QUEUE = "bench-rtt"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1,localhost",
}


# --- processes ------------------------------------------------------------------------------


def _spawn(*args: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True, cwd=HERE)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise RuntimeError(f"{args[0]} did not start")
    return process, int(json.loads(line)["port"])


@contextlib.contextmanager
def _server() -> Iterator[str]:
    process, port = _spawn("sqs_light.py", "--max-stored", "0")  # counted, not kept
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def _proxy(endpoint: str, delay_ms: float) -> Iterator[str]:
    upstream = endpoint.removeprefix("http://")
    process, port = _spawn("delay_proxy.py", "--upstream", upstream, "--delay-ms", str(delay_ms))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _counts(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{endpoint}/__bench__/counts", timeout=10) as response:
        counts: dict[str, int] = json.loads(response.read())
        return counts


# --- the worker (one process per point) ------------------------------------------------------


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
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        """Stop; the p50, p99 and largest lateness in ms."""
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return {
            "p50_ms": percentile(self.lateness, 0.50) * 1e3,
            "p99_ms": percentile(self.lateness, 0.99) * 1e3,
            "max_ms": max(self.lateness, default=float("nan")) * 1e3,
        }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _handler(args: argparse.Namespace, endpoint: str, queue_url: str) -> Any:
    module, _, name = args.handler.partition(":")
    cls = getattr(importlib.import_module(module), name)
    options = json.loads(args.options)
    return cls(queue_url=queue_url, region_name="us-east-1", endpoint_url=endpoint, **options)


async def _forward(handler: Any, args: argparse.Namespace) -> tuple[float, int]:
    from fastapi_events import dispatch, event_scope

    blocks = iter(range(0, args.events, args.chunk))
    deadline = time.perf_counter() + MAX_SECONDS
    sent = 0

    async def worker() -> None:
        nonlocal sent
        for first in blocks:
            if time.perf_counter() > deadline:
                return
            async with event_scope(handlers=[handler]):
                for index in range(first, min(first + args.chunk, args.events)):
                    dispatch("bench.forwarded", {"index": index, "user": "ada"})
                    sent += 1
            await asyncio.sleep(0)  # a request ends: a server would read the next one

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return time.perf_counter() - start, sent


async def _paced(handler: Any, rate: float, chunk: int, seconds: float) -> float:
    """Requests of ``chunk`` events started at ``rate`` events/s for ``seconds`` (an open
    loop, as a service's traffic); the events/s achieved, drains included."""
    from fastapi_events import dispatch, event_scope

    async def request(first: int) -> None:
        async with event_scope(handlers=[handler]):
            for index in range(first, first + chunk):
                dispatch("bench.paced", {"index": index, "user": "ada"})

    count = int(rate * seconds / chunk)
    requests = []
    start = time.perf_counter()
    for number in range(count):
        await asyncio.sleep(max(0.0, start + number * chunk / rate - time.perf_counter()))
        requests.append(asyncio.ensure_future(request(number * chunk)))
    await asyncio.wait_for(asyncio.gather(*requests), MAX_SECONDS)
    return count * chunk / (time.perf_counter() - start)


async def _point(args: argparse.Namespace) -> dict[str, Any]:
    from fastapi_events import event_scope
    from fastapi_events.handlers.null import NullHandler

    queue_url = f"{args.server}/123456789012/{QUEUE}"
    handler = _handler(args, args.endpoint, queue_url)
    if hasattr(handler, "astart"):  # what the application's startup does
        await handler.astart()
    async with event_scope(handlers=[handler]):
        pass
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.3)
    idle = await ticker.stop()  # the machine's own noise
    # The same requests with a handler that drops the events: the stalls the simulated
    # requests cause themselves, without any forwarding.
    ticker = Ticker()
    ticker.start()
    await _forward(NullHandler(), args)
    no_forwarding = await ticker.stop()
    rss_before = _rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    before = _counts(args.server)
    ticker = Ticker()
    ticker.start()
    cpu = time.process_time()
    elapsed, sent = await _forward(handler, args)
    cpu = time.process_time() - cpu
    stall = await ticker.stop()
    after = _counts(args.server)
    ticker = Ticker()
    ticker.start()
    paced_rate = await _paced(handler, args.rate, args.paced_chunk, args.paced_seconds)
    paced = await ticker.stop()
    await handler.aclose()
    calls = after.get("SendMessageBatch", 0) - before.get("SendMessageBatch", 0)
    stored = after.get("stored", 0) - before.get("stored", 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "events": sent,
        "stored": stored,
        "seconds": elapsed,
        "events_per_s": sent / elapsed,
        "calls_per_event": calls / max(sent, 1),
        "cpu_per_event_us": cpu / max(sent, 1) * 1e6,
        "stall": stall,
        "paced_events_per_s": paced_rate,
        "paced_stall": paced,
        "idle_stall": idle,
        "no_forwarding_stall": no_forwarding,
        "rss_growth_mb": max(peak, peak_before) - rss_before,
    }


# --- botocore's CPU per call, and the MD5 check ---------------------------------------------


def _entries(count: int = 10) -> list[dict[str, Any]]:
    """Entries like the forwarder's (body, event name/id/content type attributes)."""
    return [
        {
            "Id": f"{index:032x}",
            "MessageBody": json.dumps(["bench.forwarded", {"index": index, "user": "ada"}]),
            "MessageAttributes": {
                "event_name": {"DataType": "String", "StringValue": "bench.forwarded"},
                "event_id": {"DataType": "String", "StringValue": f"{index:032x}"},
                "content_type": {"DataType": "String", "StringValue": "application/json"},
            },
        }
        for index in range(count)
    ]


def _check_md5s(entries: list[dict[str, Any]], answer: dict[str, Any]) -> None:
    """Fail loudly if the server's MD5s do not match the request (as SQS's would)."""
    from sqs_light import attributes_md5, body_md5

    by_id = {entry["Id"]: entry for entry in entries}
    if answer.get("Failed") or len(answer.get("Successful", [])) != len(entries):
        raise SystemExit(f"the server did not accept the batch: {answer.get('Failed')}")
    for item in answer["Successful"]:
        entry = by_id[item["Id"]]
        if item["MD5OfMessageBody"] != body_md5(entry["MessageBody"]) or item.get(
            "MD5OfMessageAttributes"
        ) != attributes_md5(entry["MessageAttributes"]):
            raise SystemExit(f"bad MD5 from the SQS server for entry {item['Id']}")


def botocore_cpu_per_call(endpoint: str, calls: int) -> float:
    """Seconds of CPU (this thread) per SendMessageBatch of 10 entries through boto3."""
    import boto3

    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    url = client.create_queue(QueueName=QUEUE)["QueueUrl"]
    entries = _entries()
    _check_md5s(entries, client.send_message_batch(QueueUrl=url, Entries=entries))
    for _ in range(20):  # warm up
        client.send_message_batch(QueueUrl=url, Entries=entries)
    start = time.thread_time()
    for _ in range(calls):
        client.send_message_batch(QueueUrl=url, Entries=entries)
    cpu = (time.thread_time() - start) / calls
    client.close()
    return cpu


# --- the driver ----------------------------------------------------------------------------


def _worker_point(args: argparse.Namespace, server: str, endpoint: str) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "forwarding_rtt.py"), "--worker"]
    command += ["--server", server, "--endpoint", endpoint, "--handler", args.handler]
    command += ["--options", args.options, "--events", str(args.events)]
    command += ["--chunk", str(args.chunk), "--concurrency", str(args.concurrency)]
    command += ["--rate", str(args.rate), "--paced-chunk", str(args.paced_chunk)]
    command += ["--paced-seconds", str(args.paced_seconds)]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=HERE, timeout=MAX_SECONDS + 60
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool, handler: str | None = None, options: str = "{}") -> dict[str, Any]:
    """Measure every delay; the dict ``run.py`` stores under ``"forwarding_rtt"``."""
    args = _parser().parse_args(["--quick"] if quick else [])
    args.handler = handler or args.handler
    args.options = options
    return _run(args)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    args.events = min(args.events or (2000 if args.quick else MAX_EVENTS), MAX_EVENTS)
    os.environ.update(ENV)
    points: list[dict[str, Any]] = []
    with _server() as server:
        cpu = botocore_cpu_per_call(server, 100 if args.quick else 400)
        for delay in args.delays:
            with _proxy(server, delay) as endpoint:
                points.append(_worker_point(args, server, endpoint))
    ceiling = 10 / cpu
    return {
        "delays_ms": list(args.delays),
        "events_per_s": [p["events_per_s"] for p in points],
        "calls_per_event": [p["calls_per_event"] for p in points],
        # Stalls while forwarding at the goal's rate (--rate, paced requests); the
        # closed loop's (the producer as fast as it can go) are beside them.
        "paced_rate_events_per_s": args.rate,
        "paced_events_per_s": [p["paced_events_per_s"] for p in points],
        "stall_p50_ms": [p["paced_stall"]["p50_ms"] for p in points],
        "stall_p99_ms": [p["paced_stall"]["p99_ms"] for p in points],
        "stall_max_ms": [p["paced_stall"]["max_ms"] for p in points],
        "closed_loop_stall_p99_ms": [p["stall"]["p99_ms"] for p in points],
        "closed_loop_stall_max_ms": [p["stall"]["max_ms"] for p in points],
        "no_forwarding_stall_p99_ms": [p["no_forwarding_stall"]["p99_ms"] for p in points],
        "no_forwarding_stall_max_ms": [p["no_forwarding_stall"]["max_ms"] for p in points],
        "idle_stall_max_ms": [p["idle_stall"]["max_ms"] for p in points],
        "ceiling_events_per_s": ceiling,
        "share_of_ceiling": [p["events_per_s"] / ceiling for p in points],
        "botocore_cpu_per_call_ms": cpu * 1e3,
        "cpu_per_event_us": [p["cpu_per_event_us"] for p in points],
        "rss_growth_mb": max(p["rss_growth_mb"] for p in points),
        "rss_growth_mb_per_point": [p["rss_growth_mb"] for p in points],
        "events": [p["events"] for p in points],
        "handler": args.handler,
        "options": json.loads(args.options),
    }


def table(result: dict[str, Any]) -> str:
    """The scaling table."""
    rate = result["paced_rate_events_per_s"]
    lines = [
        f"SQS forwarding through a delaying proxy ({result['handler']} {result['options']})",
        f"  botocore CPU per SendMessageBatch {result['botocore_cpu_per_call_ms']:.2f} ms: "
        f"ceiling {result['ceiling_events_per_s']:.0f} events/s",
        f"  closed loop (as fast as it goes)                     | paced at {rate:.0f} events/s",
        f"  {'+ms':>4} {'events/s':>9} {'share':>6} {'calls/ev':>8} {'us CPU/ev':>9} "
        f"{'p99':>6} {'max':>6} | {'events/s':>8} {'p50':>5} {'p99':>6} {'max':>6}"
        f"   no fwd p99/max, idle max",
    ]
    for i, delay in enumerate(result["delays_ms"]):
        lines.append(
            f"  {delay:>4.0f} {result['events_per_s'][i]:>9.0f} "
            f"{result['share_of_ceiling'][i]:>6.2f} {result['calls_per_event'][i]:>8.3f} "
            f"{result['cpu_per_event_us'][i]:>9.0f} {result['closed_loop_stall_p99_ms'][i]:>6.2f} "
            f"{result['closed_loop_stall_max_ms'][i]:>6.2f} | "
            f"{result['paced_events_per_s'][i]:>8.0f} {result['stall_p50_ms'][i]:>5.2f} "
            f"{result['stall_p99_ms'][i]:>6.2f} {result['stall_max_ms'][i]:>6.2f}   "
            f"{result['no_forwarding_stall_p99_ms'][i]:.2f}/"
            f"{result['no_forwarding_stall_max_ms'][i]:.2f}, {result['idle_stall_max_ms'][i]:.2f}"
        )
    lines.append(f"  peak RSS growth {result['rss_growth_mb']:.1f} MB (stall columns in ms)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer events per point")
    parser.add_argument("--delays", type=float, nargs="+", default=list(DELAYS_MS))
    parser.add_argument("--events", type=int, default=None, help=f"per point, <= {MAX_EVENTS}")
    parser.add_argument("--chunk", type=int, default=100, help="events per event scope")
    parser.add_argument("--concurrency", type=int, default=10, help="scopes at a time")
    parser.add_argument("--rate", type=float, default=3000, help="paced phase, events/s")
    parser.add_argument("--paced-chunk", type=int, default=10, help="paced events/request")
    parser.add_argument("--paced-seconds", type=float, default=3.0)
    parser.add_argument("--handler", default="fastapi_events.handlers.aws:SQSForwardHandler")
    parser.add_argument("--options", default="{}", help="JSON keyword arguments")
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    """Run the points (or, with ``--worker``, one point) and print the result."""
    args = _parser().parse_args()
    os.environ.update(ENV)
    if args.worker:
        emit(asyncio.run(_point(args)))
        return
    result = _run(args)
    print(json.dumps(result) if args.json else table(result))


if __name__ == "__main__":
    main()
