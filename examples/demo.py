"""fastapi_events in one minute: a FastAPI app under uvicorn on 127.0.0.1.

Run it with ``python examples/demo.py``. It starts the server, makes a few requests itself,
stops the server (which drains the events still being handled) and prints a timeline:

* each response is complete before its handlers start;
* a handler chains another event;
* a failing handler is isolated (its sibling still runs) and reported to ``on_error``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI

from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.typing import Event

START = time.perf_counter()
timeline: list[tuple[float, str, str]] = []
handler = LocalHandler()


def mark(who: str, what: str) -> None:
    timeline.append(((time.perf_counter() - START) * 1000, who, what))


def mailer() -> str:
    return "smtp://127.0.0.1"  # a dependency, resolved per event like FastAPI's


@handler.register(event_name="user.signed_up")
async def send_welcome_email(event: Event, smtp: str = Depends(mailer)) -> None:
    mark("handler", f"send_welcome_email started for {event.payload['user']} via {smtp}")
    await asyncio.sleep(0.2)  # slow work the client never waits for
    dispatch("email.sent", {"to": event.payload["user"]})  # chaining


@handler.register(event_name="email.sent")
async def audit(event: Event) -> None:
    mark("handler", f"audit saw chained event {event.key} {event.payload}")


@handler.register(event_name="order.placed")
async def charge_card(event: Event) -> None:
    mark("handler", "charge_card started, and fails")
    raise ConnectionError("payment gateway unreachable")


@handler.register(event_name="order.placed")
def notify_warehouse(event: Event) -> None:  # sync handlers run in a worker thread
    mark("handler", f"notify_warehouse still runs for order {event.payload['order']}")


def report(event: Event, failed: Any, exc: BaseException) -> None:
    mark("on_error", f"{event.key} (id {event.id[:8]}…) failed in {failed.__name__}: {exc!r}")


class MarkResponses:
    """Records the moment each response's last byte leaves the app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_marking(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                mark("server", f"response to {scope['path']} complete")

        await self.app(scope, receive, send_marking)


app = FastAPI()
app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler], on_error=report)
app.add_middleware(MarkResponses)


@app.post("/signup")
async def signup(user: str) -> dict[str, str]:
    dispatch("user.signed_up", {"user": user})
    return {"welcome": user}


@app.post("/orders")
async def place_order() -> dict[str, int]:
    dispatch("order.placed", {"order": 7})
    return {"order": 7}


def main() -> int:
    logging.getLogger("fastapi_events").setLevel(logging.CRITICAL)  # on_error reports instead
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for path, params in [("/signup", {"user": "ada"}), ("/orders", {})]:
            mark("client", f"POST {path}")
            response = client.post(path, params=params)
            mark("client", f"got {response.status_code} {response.text}")
    server.should_exit = True  # lifespan shutdown drains what is still being handled
    thread.join()
    for ms, who, what in sorted(timeline):
        print(f"{ms:8.1f} ms  {who:<8} {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
