"""A first end-to-end check: a FastAPI request's events reach a local handler afterwards."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware


@pytest.mark.anyio
async def test_request_events_reach_local_handler() -> None:
    """Events dispatched in an endpoint are handled, in order, once the request is done."""
    handler = LocalHandler()
    seen: list[tuple[str, object]] = []

    @handler.register(event_name="user.*")
    async def record(event: object) -> None:
        name, payload = event  # type: ignore[misc]
        seen.append((name, payload))

    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])

    @app.post("/users")
    async def create() -> dict[str, bool]:
        dispatch("user.created", {"id": 1})
        dispatch("user.welcomed", {"id": 1})
        return {"ok": True}

    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/users")
    assert response.status_code == 200
    assert seen == [("user.created", {"id": 1}), ("user.welcomed", {"id": 1})]
