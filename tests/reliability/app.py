"""The app tests/reliability runs under a real uvicorn subprocess.

Each handled event appends its label to ``$OUT_DIR/handled``; each report to the error hook
appends ``label error-type`` to ``$OUT_DIR/reported``. ``$HANDLER_DELAY`` (seconds) is how
long the handler works; ``$SHUTDOWN_TIMEOUT`` the middleware's shutdown timeout.
"""

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware

OUT = Path(os.environ["OUT_DIR"])
DELAY = float(os.environ.get("HANDLER_DELAY", "0"))
# The scenarios fail events on purpose; their records are counted from the files instead.
logging.getLogger("fastapi_events").addHandler(logging.NullHandler())
handler = LocalHandler()
tasks: set[asyncio.Task[None]] = set()


def record(name: str, line: str) -> None:
    with (OUT / name).open("a") as out:
        out.write(line + "\n")


async def cancelled_elsewhere() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    await future


@handler.register(event_name="work.*")
async def work(event: Any) -> None:
    if event.payload.get("cancel"):
        await cancelled_elsewhere()  # a CancelledError that is not this task's
    await asyncio.sleep(DELAY)
    record("handled", event.payload["label"])


def on_error(event: Any, failed: Any, exc: BaseException) -> None:
    record("reported", f"{event.payload['label']} {type(exc).__name__}")


async def burst(request: Request) -> PlainTextResponse:
    tag, count = request.query_params["tag"], int(request.query_params["n"])
    cancel_every = int(request.query_params.get("cancel_every", "0"))
    for i in range(count):
        cancel = bool(cancel_every) and i % cancel_every == 0
        dispatch("work.item", {"label": f"{tag}-{i}", "cancel": cancel})
    return PlainTextResponse("ok")


async def dispatch_later(tag: str, count: int) -> None:
    await asyncio.sleep(0.05)
    for i in range(count):
        dispatch("work.late", {"label": f"{tag}-{i}"})


async def straggler(request: Request) -> PlainTextResponse:
    task = asyncio.create_task(dispatch_later(request.query_params["tag"], 5))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return PlainTextResponse("ok")


app = Starlette(
    routes=[Route("/burst", burst), Route("/straggler", straggler)],
    middleware=[
        Middleware(
            EventHandlerASGIMiddleware,
            handlers=[handler],
            on_error=on_error,
            shutdown_timeout=float(os.environ.get("SHUTDOWN_TIMEOUT", "10")),
        )
    ],
)
