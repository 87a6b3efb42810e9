"""The worker of the Pub/Sub end-to-end test: ``python -m fastapi_events.consume
tests.consumers.pubsub_worker_app:consumer``.

It consumes ``$SUBSCRIPTION_ID`` (the emulator at ``$PUBSUB_EMULATOR_HOST``), three
messages at a time, with an SDK tracer provider. The handler appends ``started <id>`` to
``$OUT_DIR/log`` when it begins and ``done <id> <correlation id> <trace id of its span's
link>`` when it finishes: 0.3 s for most events, an hour for those marked ``slow``; and
``stats <received> <succeeded> <released>`` as the process exits.
"""

import asyncio
import atexit
import os
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from fastapi_events._event import Event
from fastapi_events.consumers import PubSubConsumer
from fastapi_events.handlers.local import LocalHandler

LOG = Path(os.environ["OUT_DIR"]) / "log"
handler = LocalHandler()


def note(line: str) -> None:
    with LOG.open("a") as out:
        out.write(line + "\n")


@handler.register(event_name="order.*")
async def work(event: Event) -> None:
    note(f"started {event.id}")
    links = getattr(trace.get_current_span(), "links", ())
    linked = ",".join(f"{link.context.trace_id:032x}" for link in links) or "-"
    await asyncio.sleep(3600 if event.payload["slow"] else 0.3)
    note(f"done {event.id} {event.correlation_id} {linked}")


consumer = PubSubConsumer(
    "fastapi-events-test",
    os.environ["SUBSCRIPTION_ID"],
    handlers=[handler],
    concurrency=3,
    shutdown_timeout=2.0,
    tracer_provider=TracerProvider(),
)


@atexit.register
def report() -> None:
    stats = consumer.stats
    note(f"stats {stats.received} {stats.succeeded} {stats.released}")
