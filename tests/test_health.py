"""Readiness: check_health() over a middleware's handlers, and the ASGI probe app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Route

from fastapi_events.errors import UnknownMiddlewareIdError
from fastapi_events.handlers.base import BaseEventHandler, HealthStatus
from fastapi_events.handlers.null import NullHandler
from fastapi_events.health import check_health, health_app
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.handlers.forwarders import MemoryForwarder

pytestmark = pytest.mark.anyio


class Broken(BaseEventHandler):
    """A handler whose own health check raises, or never answers."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang

    async def handle(self, event: Any) -> None:
        pass

    async def check_health(self) -> HealthStatus:
        if self.hang:
            await asyncio.Event().wait()
        raise RuntimeError("boom " + "x" * 1000)


def fastapi_app(*handlers: BaseEventHandler) -> Any:
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=list(handlers), middleware_id=7)
    app.add_route("/healthz", health_app(middleware_id=7), methods=["GET", "HEAD"])
    return app


async def probe(app: Any, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, "/healthz")


async def test_every_handler_healthy_is_200_with_each_listed() -> None:
    """A FastAPI route answers 200 and lists every handler of the middleware."""
    response = await probe(fastapi_app(NullHandler(), MemoryForwarder("box")))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["healthy"] is True
    assert [(h["healthy"], h["handler"].rsplit(".", 1)[-1]) for h in body["handlers"]] == [
        (True, "NullHandler"),
        (True, "MemoryForwarder(box)"),
    ]


async def test_one_unhealthy_handler_is_503_naming_it_without_secrets() -> None:
    """A forwarder whose broker is down makes the probe fail; its URL's password is masked."""
    down = MemoryForwarder("box")
    down.ping_error = ConnectionError("redis://:s3cret@127.0.0.1:1 refused")
    response = await probe(fastapi_app(NullHandler(), down))
    assert response.status_code == 503
    body = response.json()
    assert [h["healthy"] for h in body["handlers"]] == [True, False]
    assert body["handlers"][1]["detail"] == "ConnectionError: redis://***@127.0.0.1:1 refused"
    assert "s3cret" not in response.text


async def test_a_raising_or_hanging_check_is_unhealthy_and_capped() -> None:
    """check_health() turns a raising or timed-out handler check into a capped status."""
    statuses = await check_health([Broken(), Broken(hang=True), NullHandler()], timeout=0.05)
    assert [s.healthy for s in statuses] == [False, False, True]
    assert statuses[0].detail.startswith("RuntimeError: boom x")
    assert len(statuses[0].detail) < 300
    assert statuses[1].detail == "no answer within 0.05s"


async def test_check_health_takes_a_middleware_its_pipeline_or_its_id() -> None:
    """The middleware, its pipeline and its id give the same report; an unknown id raises."""
    middleware = EventHandlerASGIMiddleware(
        lambda *a: None, handlers=[NullHandler()], middleware_id=3
    )
    reports = [await check_health(t) for t in (middleware, middleware.pipeline, 3)]
    assert [[s.healthy for s in report] for report in reports] == [[True]] * 3
    with pytest.raises(UnknownMiddlewareIdError):
        await check_health(4)


async def test_without_an_id_the_app_reports_every_middleware() -> None:
    """health_app() with no middleware_id finds the app's middleware by itself."""
    app = Starlette(routes=[Route("/healthz", health_app())])
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[MemoryForwarder("box")])
    response = await probe(app)
    assert (response.status_code, len(response.json()["handlers"])) == (200, 1)


async def test_no_such_middleware_is_503() -> None:
    """A probe for a middleware that does not exist (yet) fails, saying which id."""
    response = await probe(health_app(middleware_id=99))
    assert response.status_code == 503
    assert response.json()["detail"] == "no middleware with middleware_id=99 yet"


async def test_head_has_no_body_and_other_methods_are_refused() -> None:
    """HEAD answers the status only; POST is 405."""
    app = fastapi_app(NullHandler())
    head = await probe(app, "HEAD")
    assert (head.status_code, head.content) == (200, b"")
    post = await probe(health_app(), "POST")
    assert post.status_code == 405
