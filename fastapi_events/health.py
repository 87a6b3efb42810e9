"""Readiness: ask every handler of a middleware whether it can take events.

:func:`check_health` returns one :class:`HealthStatus` per handler; :func:`health_app` is a
tiny ASGI app for a Kubernetes readiness probe: ``200`` when every handler is healthy,
``503`` otherwise, with a JSON body listing each handler (its class and destination,
healthy or not, and a short reason: never a payload, a credential or a connection URL).

The app finds its middleware when a probe comes in (Starlette and FastAPI build their
middleware at the app's first ASGI call): by ``middleware_id`` (the one you passed to
:class:`~fastapi_events.middleware.EventHandlerASGIMiddleware`), or, without one, every
middleware of the process.

Example::

    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[forwarder], middleware_id=1)
    app.add_route("/healthz", health_app(middleware_id=1), methods=["GET", "HEAD"])

    # Starlette: Starlette(routes=[Route("/healthz", health_app())], middleware=[...])

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from . import _store
from ._asgi import respond, serve_lifespan
from ._pipeline import EventPipeline
from ._redact import capped_repr
from ._reporting import describe_handler
from .handlers._outgoing import error_detail
from .handlers.base import BaseEventHandler, HealthStatus
from .middleware import EventHandlerASGIMiddleware
from .typing import Receive, Scope, Send

__all__ = ["DEFAULT_HEALTH_TIMEOUT", "HealthApp", "HealthStatus", "check_health", "health_app"]

#: Seconds one handler's check may take before it counts as unhealthy.
DEFAULT_HEALTH_TIMEOUT = 10.0

Target = EventHandlerASGIMiddleware | EventPipeline | int | Iterable[BaseEventHandler]


async def check_health(
    target: Target, *, timeout: float = DEFAULT_HEALTH_TIMEOUT
) -> list[HealthStatus]:
    """Check every handler of ``target`` at the same time, each within ``timeout`` seconds.

    Args:
        target: a middleware, its pipeline, a ``middleware_id``, or handlers.
        timeout: seconds a handler's check may take (then it is unhealthy).

    Returns:
        One status per handler, in the handlers' order; a check that raises or times
        out is an unhealthy status, never an exception.

    Raises:
        UnknownMiddlewareIdError: ``target`` is an id no live middleware has.
    """
    handlers = _handlers_of(target)
    return list(await asyncio.gather(*[_check(handler, timeout) for handler in handlers]))


def _handlers_of(target: Target) -> tuple[BaseEventHandler, ...]:
    if isinstance(target, EventHandlerASGIMiddleware):
        return target.pipeline.handlers
    if isinstance(target, EventPipeline):
        return target.handlers
    if isinstance(target, int):
        return _store.lookup(target).handlers
    return tuple(target)


async def _check(handler: BaseEventHandler, timeout: float) -> HealthStatus:
    try:
        return await asyncio.wait_for(handler.check_health(), timeout)
    except asyncio.TimeoutError:
        return HealthStatus(False, describe_handler(handler), f"no answer within {timeout}s")
    except Exception as exc:
        return HealthStatus(False, describe_handler(handler), error_detail(exc))


class HealthApp:
    """The ASGI app :func:`health_app` returns: answers ``GET``/``HEAD`` on any path."""

    def __init__(self, middleware_id: int | None, timeout: float) -> None:
        self.middleware_id = middleware_id
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served on its own: nothing to start
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond_json(send, 405, {"detail": "use GET or HEAD"}, scope["method"] == "HEAD")
            return
        status, body = await self.report()
        await _respond_json(send, status, body, scope["method"] == "HEAD")

    async def report(self) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body a probe gets now."""
        pipelines = self._pipelines()
        if not pipelines:
            detail = (
                f"no middleware with middleware_id={capped_repr(self.middleware_id)} yet"
                if self.middleware_id is not None
                else "no middleware yet"
            )
            return 503, {"healthy": False, "handlers": [], "detail": detail}
        statuses = [
            status
            for pipeline in pipelines
            for status in await check_health(pipeline, timeout=self.timeout)
        ]
        healthy = all(status.healthy for status in statuses)
        body = {"healthy": healthy, "handlers": [status.as_dict() for status in statuses]}
        return (200 if healthy else 503), body

    def _pipelines(self) -> list[EventPipeline]:
        if self.middleware_id is not None:
            found = _store.find(self.middleware_id)
            return [found] if found is not None else []
        return _store.registered()


def health_app(
    middleware_id: int | None = None, *, timeout: float = DEFAULT_HEALTH_TIMEOUT
) -> HealthApp:
    """An ASGI app reporting the health of a middleware's handlers (a readiness probe).

    Args:
        middleware_id: the middleware to report; ``None``: every middleware of the process.
        timeout: seconds each handler's check may take.

    Returns:
        An app answering ``200`` when every handler is healthy, else ``503`` (also while
        no middleware exists yet), with a JSON body
        ``{"healthy": bool, "handlers": [{"healthy", "handler", "detail"}, ...]}``.
    """
    return HealthApp(middleware_id, timeout)


async def _respond_json(send: Send, status: int, body: dict[str, Any], head: bool) -> None:
    await respond(send, status, json.dumps(body).encode(), b"application/json", head=head)
