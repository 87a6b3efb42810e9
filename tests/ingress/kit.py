"""What the ingress tests share: apps (FastAPI, Starlette) around an ingress, a client,
signed posts, and handlers that record or fail by event id."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from fastapi_events._event import Event
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.ingress import EventIngress, HMACVerifier
from tests.accounting import Ledger

SECRET = "test-secret-0123456789abcdef"
FRAMEWORKS = ["fastapi", "starlette", "starlette-mount"]


def verifier() -> HMACVerifier:
    """The verifier every test app uses (a fresh replay memory each time)."""
    return HMACVerifier(SECRET)


def app_for(ingress: EventIngress, framework: str = "fastapi") -> Any:
    """An app serving ``ingress`` at POST /events (FastAPI route, Starlette route, or a
    Starlette mount, answering under /events/)."""
    if framework == "fastapi":
        app = FastAPI(lifespan=ingress.lifespan)
        app.add_route("/events", ingress, methods=["POST"])
        return app
    if framework == "starlette":
        route = Route("/events", ingress, methods=["POST"])
        return Starlette(routes=[route], lifespan=ingress.lifespan)
    return Starlette(routes=[Mount("/events", app=ingress)], lifespan=ingress.lifespan)


def url_for(framework: str) -> str:
    """The path an app of :func:`app_for` serves the ingress at."""
    return "/events/" if framework == "starlette-mount" else "/events"


def client(app: Any) -> httpx.AsyncClient:
    """An httpx client calling ``app`` in the test's task."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ingress")


async def post(
    http: httpx.AsyncClient,
    body: bytes,
    headers: dict[str, str],
    *,
    url: str = "/events",
    sign: Any = None,
) -> httpx.Response:
    """POST ``body``, signed with ``sign`` if given."""
    signed = sign.sign(body) if sign is not None else {}
    return await http.post(url, content=body, headers={**headers, **signed})


def structured(event_id: str, name: str, data: Any, **extra: Any) -> dict[str, Any]:
    """A structured CloudEvent as a dict."""
    envelope = {"specversion": "1.0", "id": event_id, "source": "/tests", "type": name}
    return {**envelope, "data": data, **extra}


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


class Recorder:
    """A local handler recording each event it took into a ledger; it fails (raises)
    for the event ids in ``failing``."""

    def __init__(self, ledger: Ledger | None = None, failing: Callable[[Event], bool] = bool):
        self.ledger = ledger or Ledger()
        self.events: list[Event] = []
        self.handler = LocalHandler()
        self.failing: Callable[[Event], bool] = failing if failing is not bool else _never

        @self.handler.register
        async def take(event: Event) -> None:
            if self.failing(event):
                raise RuntimeError("handler failed on purpose")
            self.events.append(event)
            self.ledger.handled.append(event.id)

    def ingress(self, **options: Any) -> EventIngress:
        """An ingress handing events to this recorder, errors to its ledger."""
        options.setdefault("verifier", verifier())
        return EventIngress(handlers=[self.handler], on_error=self.ledger.on_error, **options)


def _never(event: Event) -> bool:
    return False
