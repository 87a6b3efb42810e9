"""The worker of the SIGTERM test: ``python -m fastapi_events.consume
tests.consumers.worker_app:consumer``.

It consumes ``$QUEUE_URL`` (moto at ``$SQS_ENDPOINT``), three messages at a time. The
handler appends ``started <id>`` to ``$OUT_DIR/log`` when it begins and ``done <id>``
when it finishes: 0.3 s for most events, an hour for those whose payload says ``slow``.
"""

import asyncio
import os
from pathlib import Path

from fastapi_events._event import Event
from fastapi_events.consumers import SQSConsumer
from fastapi_events.handlers.local import LocalHandler

LOG = Path(os.environ["OUT_DIR"]) / "log"
handler = LocalHandler()


def note(line: str) -> None:
    with LOG.open("a") as out:
        out.write(line + "\n")


@handler.register(event_name="order.*")
async def work(event: Event) -> None:
    note(f"started {event.id}")
    await asyncio.sleep(3600 if event.payload["slow"] else 0.3)
    note(f"done {event.id}")


consumer = SQSConsumer(
    os.environ["QUEUE_URL"],
    handlers=[handler],
    region_name="us-east-1",
    endpoint_url=os.environ["SQS_ENDPOINT"],
    wait_time_seconds=1,
    concurrency=3,
    shutdown_timeout=2.0,
)
