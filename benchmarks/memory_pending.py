"""Scaling, one worker process: memory per pending event, measured with ``tracemalloc``.

Two places events wait: a request's buffer (dispatched, the response not yet complete) and
the background queue (``dispatch(..., middleware_id=...)`` outside requests, behind a handler
that does not return until the measurement is over). For each count N, the bytes allocated
by N dispatches (payloads made beforehand, so not counted) divided by N. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
from typing import Any

from _stats import emit

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.null import NullHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

__all__ = ["COUNTS", "main"]

COUNTS = (1_000, 10_000, 50_000)
MIDDLEWARE_ID = 424242


def _allocated(fill: Any) -> int:
    """Bytes still allocated after ``fill()`` (tracing only around it)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fill()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


async def _in_request_buffer(count: int) -> float:
    payloads = [{"index": index} for index in range(count)]
    async with event_scope(handlers=[NullHandler()]) as buffer:

        def fill() -> None:
            for payload in payloads:
                dispatch("bench.event", payload)

        allocated = _allocated(fill)
        buffer.events.clear()
    return allocated / count


async def _in_background_queue(count: int) -> float:
    release = asyncio.Event()
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def held(event: Any) -> None:
        await release.wait()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    middleware = EventHandlerASGIMiddleware(
        app, handlers=[handler], middleware_id=MIDDLEWARE_ID, max_pending=count + 10
    )
    await middleware.pipeline.start()
    payloads = [{"index": index} for index in range(count)]
    dispatch("bench.first", {}, middleware_id=MIDDLEWARE_ID)
    await asyncio.sleep(0)  # the worker takes the first event and waits in the handler

    def fill() -> None:
        for payload in payloads:
            dispatch("bench.event", payload, middleware_id=MIDDLEWARE_ID)

    allocated = _allocated(fill)
    release.set()
    await middleware.pipeline.shutdown(timeout=60)
    return allocated / count


async def _measure(counts: tuple[int, ...]) -> dict[str, Any]:
    await _in_request_buffer(100)  # warm up: first-use allocations are not per event
    await _in_background_queue(100)
    return {
        "counts": list(counts),
        "request_buffer_bytes": [await _in_request_buffer(count) for count in counts],
        "background_queue_bytes": [await _in_background_queue(count) for count in counts],
    }


def main() -> None:
    """Parse the arguments, measure, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="*", default=list(COUNTS))
    args = parser.parse_args()
    emit(asyncio.run(_measure(tuple(args.counts))))


if __name__ == "__main__":
    main()
