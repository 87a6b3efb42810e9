"""Timing helpers shared by the benchmark scripts (standard library only: they also run in
the fastapi-events 0.12.2 virtual environment)."""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = [
    "emit",
    "interleaved_pair",
    "median",
    "percentile",
    "requests_per_second",
    "settle",
]

#: Requests per timed batch; the clock is read between batches only.
BATCH = 20


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1), or NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def settle() -> None:
    """Wait for every other task on the loop: work a request left behind counts too."""
    await asyncio.sleep(0)
    current = asyncio.current_task()
    while others := [task for task in asyncio.all_tasks() if task is not current]:
        await asyncio.gather(*others)


async def requests_per_second(call: Callable[[], Awaitable[Any]], budget: float) -> float:
    """Run ``call`` in batches for at least ``budget`` seconds; return calls per second.

    Background tasks the calls spawn are waited for inside the timed region, so an
    implementation that defers its work to tasks is charged for it.
    """
    # Collect, then freeze what is left: full collections then cost the same whatever
    # the process imported (otherwise importing opentelemetry, say, changes how often the
    # collector scans everything, and with it the bare app's speed).
    gc.collect()
    gc.freeze()
    count = 0
    start = time.perf_counter()
    deadline = start + budget
    while True:
        for _ in range(BATCH):
            await call()
        count += BATCH
        await settle()
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


async def interleaved_pair(
    bare: Callable[[], Awaitable[Any]],
    other: Callable[[], Awaitable[Any]],
    budget: float,
    other_first: bool,
) -> tuple[float, float]:
    """Measure ``bare`` and ``other`` back to back (order alternated by the caller)."""
    if other_first:
        other_rate = await requests_per_second(other, budget)
        bare_rate = await requests_per_second(bare, budget)
    else:
        bare_rate = await requests_per_second(bare, budget)
        other_rate = await requests_per_second(other, budget)
    return bare_rate, other_rate


def emit(result: dict[str, Any]) -> None:
    """Write a worker's result as one JSON line on stdout (what ``run.py`` reads)."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
