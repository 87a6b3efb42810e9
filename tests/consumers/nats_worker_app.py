"""The worker of the NATS end-to-end test: ``python -m fastapi_events.consume
tests.consumers.nats_worker_app:consumer``.

It consumes the stream ``$STREAM`` (``$NATS_URL``) with the durable ``e2e``, three messages
at a time, with an OpenTelemetry SDK tracer provider. The handler appends a JSON line to
``$OUT_DIR/log`` when it begins (``started``) and when it finishes (``done``, with the
event's id, name, payload, correlation id and the trace and span ids its span links to):
at once for most events, never (an hour) for those whose payload says ``slow``.
"""

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from fastapi_events._event import Event
from fastapi_events.consumers import NATSConsumer
from fastapi_events.handlers.local import LocalHandler

LOG = Path(os.environ["OUT_DIR"]) / "log"
handler = LocalHandler()


def note(line: dict[str, Any]) -> None:
    with LOG.open("a") as out:
        out.write(json.dumps(line) + "\n")


@handler.register(event_name="order.*")
async def work(event: Event) -> None:
    note({"what": "started", "id": event.id})
    if event.payload["slow"]:
        await asyncio.sleep(3600)
    links = [link.context for link in getattr(trace.get_current_span(), "links", ())]
    note(
        {
            "what": "done",
            "id": event.id,
            "name": event.name,
            "payload": event.payload,
            "correlation_id": event.correlation_id,
            "links": [f"00-{c.trace_id:032x}-{c.span_id:016x}-01" for c in links],
        }
    )


consumer = NATSConsumer(
    os.environ["STREAM"],
    durable="e2e",
    handlers=[handler],
    url=os.environ["NATS_URL"],
    concurrency=3,
    fetch_wait=0.5,
    shutdown_timeout=1.0,
    tracer_provider=TracerProvider(),
)
