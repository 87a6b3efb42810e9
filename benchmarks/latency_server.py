"""Scenario 5, the server process: uvicorn on 127.0.0.1 (a free port, printed on stdout).

``bare``: a one-route Starlette app. ``events``: the same app with the middleware; the
endpoint dispatches one event to a handler that sleeps 100 ms. Public API common to ours and
0.12.2 only, so the 0.12.2 venv runs it too.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["HANDLER_SLEEP", "main"]

HANDLER_SLEEP = 0.1


def _app(mode: str) -> Any:
    if mode == "bare":

        async def bare(request: Request) -> JSONResponse:
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/", bare)])

    from fastapi_events.dispatcher import dispatch
    from fastapi_events.handlers.local import LocalHandler
    from fastapi_events.middleware import EventHandlerASGIMiddleware

    handler = LocalHandler()

    @handler.register(event_name="bench.slow")
    async def slow(event: Any) -> None:
        await asyncio.sleep(HANDLER_SLEEP)

    async def endpoint(request: Request) -> JSONResponse:
        dispatch("bench.slow", {"path": request.url.path})
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[handler])
    return app


async def _serve(mode: str) -> None:
    config = uvicorn.Config(
        _app(mode),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    info = {
        "port": port,
        "http": getattr(config.http_protocol_class, "__name__", "?"),
        "fastapi_events": importlib.metadata.version("fastapi-events") if mode != "bare" else "",
    }
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    await task


def main() -> None:
    """Serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("bare", "events"))
    asyncio.run(_serve(parser.parse_args().mode))


if __name__ == "__main__":
    main()
