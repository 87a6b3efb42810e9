"""Scenario 3, one worker process: nanoseconds per ``dispatch()`` call inside an event scope.

Three payload kinds: a plain dict, a dict validated against a registered payload schema, and
a pydantic model instance dispatched directly. The buffer is emptied between timed loops
(outside the timed region) so it never grows large. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any, ClassVar

from _stats import emit, median
from pydantic import BaseModel

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.null import NullHandler
from fastapi_events.registry.payload_schema import registry

__all__ = ["main"]

LOOP = 2_000  # dispatches per timed loop


@registry.register(event_name="bench.schema")
class UserCreated(BaseModel):
    """The registered payload schema."""

    id: int
    name: str


class OrderPlaced(BaseModel):
    """A model dispatched as the event itself."""

    __event_name__: ClassVar[str] = "bench.model"
    id: int
    total: float


def _cases() -> dict[str, Callable[[], None]]:
    payload = {"id": 1, "name": "ada"}
    order = OrderPlaced(id=1, total=9.5)
    return {
        "empty loop (baseline)": lambda: None,
        "plain dict": lambda: dispatch("bench.plain", payload),
        "registered schema": lambda: dispatch("bench.schema", payload),
        "pydantic model": lambda: dispatch(order),
    }


def _time_case(call: Callable[[], None], buffer: Any, loops: int) -> float:
    """Median ns per call over ``loops`` timed loops of ``LOOP`` calls."""
    samples = []
    rounds = range(LOOP // 10)
    for _ in range(loops):
        buffer.events.clear()
        gc.collect()
        start = time.perf_counter_ns()
        for _ in rounds:  # unrolled by 10 so the loop itself costs little
            call(), call(), call(), call(), call(), call(), call(), call(), call(), call()
        samples.append((time.perf_counter_ns() - start) / LOOP)
    buffer.events.clear()
    return median(samples)


async def _measure(reps: int, loops: int) -> dict[str, list[float]]:
    cases = _cases()
    results: dict[str, list[float]] = {name: [] for name in cases}
    async with event_scope(handlers=[NullHandler()]) as buffer:
        for call in cases.values():
            _time_case(call, buffer, 2)  # warm up
        for rep in range(reps):
            order = list(cases.items())
            for name, call in order if rep % 2 == 0 else reversed(order):
                results[name].append(_time_case(call, buffer, loops))
    return results


def main() -> None:
    """Parse the arguments, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--loops", type=int, default=50, help="timed loops per repetition")
    args = parser.parse_args()
    emit({"ns_per_call": asyncio.run(_measure(args.reps, args.loops))})


if __name__ == "__main__":
    main()
