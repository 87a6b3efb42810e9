"""App A of the NATS end-to-end test, run under uvicorn in a subprocess.

``POST /orders?subject=S&count=N&slow=K`` dispatches ``order.placed`` N times (the first K
marked slow); every event is forwarded to the JetStream subject ``S`` (``$NATS_URL``) and
recorded, one JSON line per event (id, name, payload, correlation id, traceparent of its
dispatch span), in ``$EVENTS_OUT``.
"""

import json
import os
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.nats import NATSForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

recorder = LocalHandler()


@recorder.register
def record(event: Event) -> None:
    line = {"id": event.id, "name": event.name, "payload": event.payload}
    line["correlation_id"] = event.correlation_id
    line["traceparent"] = (event.trace_context or {}).get("traceparent")
    with open(os.environ["EVENTS_OUT"], "a") as out:
        out.write(json.dumps(line) + "\n")


forwarder = NATSForwardHandler(lambda event: event.payload["subject"], url=os.environ["NATS_URL"])
app = FastAPI()
app.add_middleware(
    EventHandlerASGIMiddleware, handlers=[recorder, forwarder], tracer_provider=TracerProvider()
)


@app.post("/orders")
async def place(subject: str, count: int = 1, slow: int = 0) -> dict[str, Any]:
    for i in range(count):
        dispatch("order.placed", {"subject": subject, "order": i, "slow": i < slow})
    return {"dispatched": count}
