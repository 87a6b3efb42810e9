"""The same small app in FastAPI, Starlette and Litestar, for the framework matrix.

Routes: ``GET /events?n=K`` dispatches ``item.0`` … ``item.K-1`` (payload ``{"i": i}``);
``GET /raise`` dispatches ``before.raise`` then raises; ``GET /status/{code}`` dispatches
``status.reply`` and answers with that status.
"""

# No `from __future__ import annotations`: the frameworks resolve the endpoints' hints,
# which name classes imported inside the builder functions.
from collections.abc import Callable
from typing import Any

from fastapi_events.dispatcher import dispatch
from fastapi_events.middleware import EventHandlerASGIMiddleware

FRAMEWORKS = ("fastapi", "starlette", "litestar")


def _dispatch_items(n: int) -> None:
    for i in range(n):
        dispatch(f"item.{i}", {"i": i})


def _boom() -> None:
    dispatch("before.raise", {"x": 1})
    raise RuntimeError("endpoint failed")


def fastapi_app(handlers: list[Any], **options: Any) -> Any:
    from fastapi import FastAPI, Response

    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=handlers, **options)

    @app.get("/events")
    async def events(n: int = 1) -> dict[str, int]:
        _dispatch_items(n)
        return {"dispatched": n}

    @app.get("/raise")
    async def fail() -> None:
        _boom()

    @app.get("/status/{code}")
    async def status(code: int) -> Response:
        dispatch("status.reply", {"code": code})
        return Response(status_code=code)

    return app


def starlette_app(handlers: list[Any], **options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def events(request: Request) -> Response:
        n = int(request.query_params.get("n", "1"))
        _dispatch_items(n)
        return JSONResponse({"dispatched": n})

    async def fail(request: Request) -> Response:
        _boom()
        raise AssertionError("unreachable")

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        dispatch("status.reply", {"code": code})
        return Response(status_code=code)

    return Starlette(
        routes=[
            Route("/events", events),
            Route("/raise", fail),
            Route("/status/{code:int}", status),
        ],
        middleware=[Middleware(EventHandlerASGIMiddleware, handlers=handlers, **options)],
    )


def litestar_app(handlers: list[Any], **options: Any) -> Any:
    from litestar import Litestar, Request, Response, get

    from fastapi_events.contrib.litestar import EventsPlugin

    @get("/events")
    async def events(request: Request[Any, Any, Any]) -> dict[str, int]:
        # Read the query by hand: inferred query parameters are deprecated in Litestar 2.2x.
        n = int(request.query_params.get("n", "1"))
        _dispatch_items(n)
        return {"dispatched": n}

    @get("/raise")
    async def fail() -> None:
        _boom()

    @get("/status/{code:int}")
    async def status(request: Request[Any, Any, Any]) -> Response[None]:
        code = int(request.path_params["code"])
        dispatch("status.reply", {"code": code})
        return Response(content=None, status_code=code)

    return Litestar(
        route_handlers=[events, fail, status],
        plugins=[EventsPlugin(handlers=handlers, **options)],
    )


BUILDERS: dict[str, Callable[..., Any]] = {
    "fastapi": fastapi_app,
    "starlette": starlette_app,
    "litestar": litestar_app,
}


def build_app(framework: str, handlers: list[Any], **options: Any) -> Any:
    """Build the test app for ``framework`` with the middleware and ``handlers``."""
    return BUILDERS[framework](handlers, **options)
