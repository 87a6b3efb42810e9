"""App A of the end-to-end tests, run under uvicorn in a subprocess.

``POST /orders?queue=URL&count=N`` dispatches ``order.placed`` N times; every event is
forwarded to the SQS queue named in its payload (moto at ``$SQS_ENDPOINT``) and recorded,
one JSON line per event (id, name, payload, correlation id), in ``$EVENTS_OUT``.
"""

import json
import os
from typing import Any

from fastapi import FastAPI

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

recorder = LocalHandler()


@recorder.register
def record(event: Event) -> None:
    line = {"id": event.id, "name": event.name, "payload": event.payload}
    line["correlation_id"] = event.correlation_id
    with open(os.environ["EVENTS_OUT"], "a") as out:
        out.write(json.dumps(line) + "\n")


forwarder = SQSForwardHandler(
    lambda event: event.payload["queue"], "us-east-1", endpoint_url=os.environ["SQS_ENDPOINT"]
)
app = FastAPI()
app.add_middleware(EventHandlerASGIMiddleware, handlers=[recorder, forwarder])


@app.post("/orders")
async def place(queue: str, count: int = 1, slow: int = 0) -> dict[str, Any]:
    for i in range(count):
        dispatch("order.placed", {"queue": queue, "order": i, "slow": i < slow})
    return {"dispatched": count}
