"""Durable spool cost: requests/s of a Starlette app with the middleware and an SQLite spool,
against the bare app and the middleware without a spool, measured in the same run.

Each measured call sends 10 concurrent requests (a server's concurrency: the spool's writer
thread shares one commit among the requests waiting for it). Bounded: ``--reps`` repetitions
of ``--budget`` seconds per variant. Prints one JSON line; ``--table`` prints a table.

    .venv/bin/python benchmarks/spool_overhead.py --table
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _apps import asgi_caller, make_app
from _stats import emit

from fastapi_events.spool import SQLiteSpool

CONCURRENCY = 10


def concurrent(call: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[Any]]:
    """One measured call: ``CONCURRENCY`` requests at once."""

    async def burst() -> None:
        await asyncio.gather(*[call() for _ in range(CONCURRENCY)])

    return burst


async def rate(call: Callable[[], Awaitable[Any]], budget: float) -> float:
    """Calls per second of ``call`` over ``budget`` seconds. (Not ``_stats``' helper: that
    one waits for every task on the loop, and the lifespan and the spool's heartbeat run
    until the end.) A request's events are handled inside the request here (inline drain)."""
    gc.collect()
    gc.freeze()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < budget:
        for _ in range(10):
            await call()
        count += 10
    gc.unfreeze()
    return count / elapsed


async def _started(app: Any) -> Callable[[], Awaitable[Any]]:
    """Run the app's lifespan startup (opens the spool), return its concurrent caller."""
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    asyncio.get_running_loop().create_task(app({"type": "lifespan"}, queue.get, send))
    await started.wait()
    return concurrent(asgi_caller(app))


async def _measure(reps: int, budget: float, folder: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    bare = concurrent(asgi_caller(make_app("starlette", events=None)))
    for events in (1, 10):
        plain = await _started(make_app("starlette", events=events))
        spool = SQLiteSpool(folder / f"spool-{events}.db")
        spooled = await _started(
            make_app("starlette", events=events, middleware_options={"spool": spool})
        )
        rates: dict[str, list[float]] = {"bare": [], "no spool": [], "spool": []}
        for rep in range(reps):
            order = [("bare", bare), ("no spool", plain), ("spool", spooled)]
            for name, call in order if rep % 2 == 0 else order[::-1]:
                rates[name].append(CONCURRENCY * await rate(call, budget))
        results[f"{events} event(s)"] = {name: statistics.median(r) for name, r in rates.items()}
    return results


def main() -> None:
    """Parse the arguments, measure, print the JSON line (or a table)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--budget", type=float, default=0.4, help="seconds per measurement")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = asyncio.run(_measure(args.reps, args.budget, Path(folder)))
    if not args.table:
        emit(results)
        return
    header = ("", "bare rps", "no spool", "spool", "spool/bare", "spool/off")
    print("{:12} {:>10} {:>10} {:>10} {:>11} {:>10}".format(*header))
    for name, row in results.items():
        print(
            f"{name:12} {row['bare']:10.0f} {row['no spool']:10.0f} {row['spool']:10.0f} "
            f"{row['spool'] / row['bare']:11.2f} {row['spool'] / row['no spool']:10.2f}"
        )


if __name__ == "__main__":
    main()
