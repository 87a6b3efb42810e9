"""The tracing floor: the OpenTelemetry SDK work of our default two spans per event, done by
hand in the bare app, with no fastapi_events at all (scenario 4's ``sdk-floor`` mode).

Per event, exactly what the SDK is asked for by ``EventHandlerASGIMiddleware`` with its
default ``otel_spans="two"``: at dispatch a PRODUCER ``create {event}`` span with the same
five attributes (a fresh UUID4 as ``messaging.message.id``), started and ended; after the
response a CONSUMER ``process {event}`` span linked to it, with the same six attributes,
made current (attach/detach) around the handler coroutine, then ended. Nothing is cached
that we could not cache too (names, attribute dicts per event name). The difference
between this and ours is what is left of our own code.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["floor_app"]

_HANDLER = "_apps._do_nothing"


def floor_app(events: int, event_name: str) -> Callable[..., Awaitable[None]]:
    """A one-route Starlette app doing the SDK calls of ``events`` traced events."""
    from opentelemetry import trace
    from opentelemetry.context import attach, detach, get_current
    from opentelemetry.trace import Link, SpanKind, set_span_in_context
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    tracer = trace.get_tracer("fastapi_events")
    base = {"messaging.system": "fastapi_events", "messaging.destination.name": event_name}
    create = {**base, "messaging.operation.type": "create", "messaging.operation.name": "create"}
    process = {
        **base,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "fastapi_events.handler": _HANDLER,
    }
    create_name, process_name = f"create {event_name}", f"process {event_name}"
    pending: list[tuple[Any, str]] = []

    async def handler(_: Any) -> None:
        return None

    async def endpoint(request: Request) -> JSONResponse:
        for index in range(events):
            payload = {"index": index}
            message_id = str(uuid.uuid4())
            span = tracer.start_span(create_name, get_current(), kind=SpanKind.PRODUCER)
            if span.is_recording():
                span.set_attributes({**create, "messaging.message.id": message_id})
            span.end()
            pending.append(((span.get_span_context(), payload), message_id))
        return JSONResponse({"ok": True})

    async def drain() -> None:
        taken = pending[:]
        pending.clear()
        for (origin, payload), message_id in taken:
            context = get_current()
            span = tracer.start_span(
                process_name, context, kind=SpanKind.CONSUMER, links=[Link(origin)]
            )
            if span.is_recording():
                span.set_attributes({**process, "messaging.message.id": message_id})
            token = attach(set_span_in_context(span, context))
            try:
                await handler(payload)
            finally:
                detach(token)
                span.end()

    inner = Starlette(routes=[Route("/", endpoint)])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await inner(scope, receive, send)
        if scope["type"] == "http":
            await drain()  # after the response, as the middleware drains

    return app
