"""The two processes of an end-to-end test, less their wire: app A and the worker.

Each wire module ``tests/consumers/e2e_<wire>.py`` builds them from environment variables:
``app()`` is app A (``uvicorn --factory``) with that wire's forwarder, and ``consumer()``
the worker's consumer (``python -m fastapi_events.consume tests.consumers.e2e_<wire>:consumer``).

* App A: ``POST /orders?to=T&count=N&slow=K`` dispatches ``order.placed`` N times, the last
  K marked slow, with ``T`` in the payload (forwarders that route per event send it there).
  The middleware traces each dispatch (an SDK tracer provider); a recorder appends one JSON
  line per event (id, name, payload, correlation id, traceparent) to ``$EVENTS_OUT``.
* Worker: three events at a time, an SDK tracer provider. The handler appends JSON lines
  to ``$OUT_DIR/log``: ``started`` (id) when it begins, ``done`` (id, name, payload,
  correlation id, the trace and span ids its span links to) when it finishes, 0.1 s later
  for most events, never (an hour) for slow ones; ``stats`` as the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from fastapi_events._event import Event
from fastapi_events.consumers import Consumer
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

__all__ = ["destination", "producer", "worker"]

C = TypeVar("C", bound=Consumer)


def _append(path: str | Path, record: dict[str, Any]) -> None:
    with open(path, "a") as out:
        out.write(json.dumps(record) + "\n")


def destination(event: Event) -> str:
    """Where app A forwards ``event``: the ``to`` of its payload."""
    return str(event.payload["to"])


def producer(forwarder: object) -> FastAPI:
    """App A: dispatches on ``POST /orders``, records and forwards with ``forwarder``."""
    recorder = LocalHandler()

    @recorder.register
    def record(event: Event) -> None:
        _append(
            os.environ["EVENTS_OUT"],
            {
                "id": event.id,
                "name": event.name,
                "payload": event.payload,
                "correlation_id": event.correlation_id,
                "traceparent": (event.trace_context or {}).get("traceparent"),
            },
        )

    app = FastAPI()
    app.add_middleware(
        EventHandlerASGIMiddleware,
        handlers=[recorder, forwarder],
        tracer_provider=TracerProvider(),
    )

    @app.post("/orders")
    async def place(to: str = "", count: int = 1, slow: int = 0) -> dict[str, Any]:
        for i in range(count):
            dispatch("order.placed", {"to": to, "order": i, "slow": i >= count - slow})
        return {"dispatched": count}

    return app


def _handler() -> LocalHandler:
    """The worker's handler, noting what it starts and finishes in ``$OUT_DIR/log``."""
    handler, log = LocalHandler(), Path(os.environ["OUT_DIR"]) / "log"

    @handler.register(event_name="order.*")
    async def work(event: Event) -> None:
        _append(log, {"what": "started", "id": event.id})
        await asyncio.sleep(3600 if event.payload["slow"] else 0.1)
        links = [link.context for link in getattr(trace.get_current_span(), "links", ())]
        _append(
            log,
            {
                "what": "done",
                "id": event.id,
                "name": event.name,
                "payload": event.payload,
                "correlation_id": event.correlation_id,
                "links": [f"{c.trace_id:032x}-{c.span_id:016x}" for c in links],
            },
        )

    return handler


def worker(consumer_class: type[C], *args: Any, **options: Any) -> C:
    """``consumer_class(*args, **options)`` with the worker's handler, three at a time,
    traced; it notes its stats in the log as the process exits."""
    options = {"concurrency": 3, "shutdown_timeout": 0.5, **options}
    consumer = consumer_class(
        *args, handlers=[_handler()], tracer_provider=TracerProvider(), **options
    )
    atexit.register(_report, consumer)
    return consumer


def _report(consumer: Consumer) -> None:
    stats = consumer.stats
    counts = {"received": stats.received, "succeeded": stats.succeeded}
    _append(
        Path(os.environ["OUT_DIR"]) / "log", {"what": "stats", **counts, "released": stats.released}
    )
