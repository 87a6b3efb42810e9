"""Local handler dependencies honour the FastAPI app's ``dependency_overrides``."""

# No `from __future__ import annotations`: FastAPI resolves the endpoints' hints.
from collections.abc import Iterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware


def settings() -> str:
    return "prod"


def session(dsn: str = Depends(settings)) -> str:
    return f"session({dsn})"


def fake_session() -> Iterator[str]:
    yield "fake session"


def recording(seen: list[str]) -> LocalHandler:
    handler = LocalHandler()

    @handler.register(event_name="order.*")
    async def on_order(event: Event, db: Annotated[str, Depends(session)]) -> None:
        seen.append(db)

    @handler.register(event_name="order.*")
    def on_order_sync(event: Event, dsn: str = Depends(settings)) -> None:
        seen.append(f"sync {dsn}")

    return handler


def app_with(handler: LocalHandler) -> FastAPI:
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    @app.post("/orders")
    async def create_order() -> dict[str, bool]:
        dispatch("order.created", {"id": 1})
        return {"ok": True}

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        dispatch("order.streamed", {"id": 2})
        await websocket.close()

    return app


def test_app_dependency_overrides_apply_to_local_handler_dependencies() -> None:
    """An override in app.dependency_overrides replaces the handler's dependency, per request."""
    seen: list[str] = []
    app = app_with(recording(seen))
    with TestClient(app) as client:
        app.dependency_overrides[session] = fake_session
        client.post("/orders")
        app.dependency_overrides.clear()
        client.post("/orders")
    assert seen == ["fake session", "sync prod", "session(prod)", "sync prod"]


def test_overriding_a_sub_dependency_reaches_every_dependant() -> None:
    """Overriding a sub-dependency changes what its dependants and direct users receive."""
    seen: list[str] = []
    app = app_with(recording(seen))
    app.dependency_overrides[settings] = lambda: "test"
    with TestClient(app) as client:
        client.post("/orders")
    assert seen == ["session(test)", "sync test"]


def test_overrides_apply_to_websocket_events() -> None:
    """Events dispatched in a websocket endpoint are handled with the app's overrides."""
    seen: list[str] = []
    app = app_with(recording(seen))
    app.dependency_overrides[settings] = lambda: "ws"
    with TestClient(app) as client, client.websocket_connect("/ws"):
        pass
    assert seen == ["session(ws)", "sync ws"]


@pytest.mark.anyio
async def test_overrides_stay_inside_the_request() -> None:
    """A request served in the caller's task leaves no override behind for later scopes."""
    seen: list[str] = []
    handler = recording(seen)
    app = app_with(handler)
    app.dependency_overrides[settings] = lambda: "test"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        await client.post("/orders")
    async with event_scope(handlers=[handler]):
        dispatch("order.later", None)
    assert seen == ["session(test)", "sync test", "session(prod)", "sync prod"]
