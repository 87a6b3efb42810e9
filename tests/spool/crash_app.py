"""The app the spool crash test runs under uvicorn: forwards to SQS with a spool.

Environment: QUEUE_URLS (comma-separated; request ``rN``'s events go to queue ``N % len``:
moto slows down as one queue fills), SQS_ENDPOINT, SPOOL_PATH. ``GET /burst?tag=T&n=N`` dispatches N
events whose payloads carry the labels ``T-0`` ... ``T-(N-1)``.
"""

import logging
import os
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.spool import SQLiteSpool

# The replay logs every id; the test counts messages in the queue instead.
logging.getLogger("fastapi_events").addHandler(logging.NullHandler())


async def burst(request: Request) -> PlainTextResponse:
    tag, count = request.query_params["tag"], int(request.query_params["n"])
    for i in range(count):
        dispatch("order.placed", {"label": f"{tag}-{i}"})
    return PlainTextResponse("ok")


QUEUES = os.environ["QUEUE_URLS"].split(",")


def queue_for(event: Any) -> str:
    request = int(event.payload["label"].split("-")[0][1:])
    return QUEUES[request % len(QUEUES)]


forwarder = SQSForwardHandler(queue_for, "us-east-1", endpoint_url=os.environ["SQS_ENDPOINT"])
app = Starlette(
    routes=[Route("/burst", burst)],
    middleware=[
        Middleware(
            EventHandlerASGIMiddleware,
            handlers=[forwarder],
            shutdown_timeout=5,
            spool=SQLiteSpool(os.environ["SPOOL_PATH"], lease=1.0),
        )
    ],
)
