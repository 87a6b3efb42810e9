"""App A of the Pub/Sub end-to-end test, run under uvicorn in a subprocess.

``POST /orders?count=N&slow=S`` dispatches ``order.placed`` N times (the first S marked
slow). The middleware traces each dispatch (an SDK tracer provider), forwards the event to
``$TOPIC_ID`` on the emulator at ``$PUBSUB_EMULATOR_HOST`` and records it, one JSON line
per event (id, payload, correlation id, traceparent), in ``$EVENTS_OUT``.
"""

import json
import os
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

recorder = LocalHandler()


@recorder.register
def record(event: Event) -> None:
    line = {"id": event.id, "payload": event.payload, "correlation_id": event.correlation_id}
    line["traceparent"] = (event.trace_context or {}).get("traceparent")
    with open(os.environ["EVENTS_OUT"], "a") as out:
        out.write(json.dumps(line) + "\n")


forwarder = GoogleCloudSimplePubSubHandler("fastapi-events-test", os.environ["TOPIC_ID"])
app = FastAPI()
app.add_middleware(
    EventHandlerASGIMiddleware, handlers=[recorder, forwarder], tracer_provider=TracerProvider()
)


@app.post("/orders")
async def place(count: int = 1, slow: int = 0) -> dict[str, Any]:
    for i in range(count):
        dispatch("order.placed", {"order": i, "slow": i < slow})
    return {"dispatched": count}
