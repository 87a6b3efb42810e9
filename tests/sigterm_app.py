"""The app tests/test_real_server.py runs under uvicorn in a subprocess and stops with SIGTERM.

Each handled event appends a line to the file named by $EVENTS_OUT.
"""

import asyncio
import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

handler = LocalHandler()
tasks: set[asyncio.Task[None]] = set()


@handler.register
async def slow_writer(event: Event) -> None:
    await asyncio.sleep(0.5)
    with open(os.environ["EVENTS_OUT"], "a") as out:
        out.write(f"{event.key}\n")


async def dispatch_later() -> None:
    await asyncio.sleep(0.1)
    dispatch("late.background")


async def endpoint(request: object) -> PlainTextResponse:
    dispatch("request.inline")
    task = asyncio.create_task(dispatch_later())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return PlainTextResponse("ok")


app = Starlette(
    routes=[Route("/", endpoint)],
    middleware=[Middleware(EventHandlerASGIMiddleware, handlers=[handler])],
)
