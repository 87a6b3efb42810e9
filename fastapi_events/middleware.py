"""The pure ASGI middleware: one event buffer per request, drained after the response."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from . import _store
from ._backpressure import DEFAULT_MAX_PENDING
from ._buffer import RequestBuffer
from ._checks import check_failure_status, check_middleware_id, validate_handlers
from ._context import enter_buffer, exit_buffer
from ._correlation import DEFAULT_CORRELATION_HEADERS, correlation_headers
from ._event import Event
from ._pipeline import DEFAULT_SHUTDOWN_TIMEOUT, EventPipeline
from ._reporting import ErrorHook
from .errors import ConfigurationError
from .spool import Spool
from .typing import ASGIApp, Message, Receive, Scope, Send

__all__ = ["EventHandlerASGIMiddleware"]

logger = logging.getLogger("fastapi_events")


def _server_error(status: int) -> bool:
    return status >= 500


class EventHandlerASGIMiddleware:
    """Collects the events a request dispatches and hands them to ``handlers`` afterwards.

    The client has the complete response before any handler starts; an exception in the
    endpoint propagates at once and its events are handled in the background. Events
    dispatched after the drain (spawned tasks, chained handlers) and websocket events are
    handled by a tracked background runner, drained at lifespan shutdown.

    Args:
        app: the ASGI app to wrap.
        handlers: any iterable of :class:`~fastapi_events.handlers.base.BaseEventHandler`.
        middleware_id: an id for ``dispatch(..., middleware_id=...)`` outside requests.
        on_error: ``on_error(event, handler, exception)``, called for every handler failure.
        on_failed_request: ``"handle"`` (default) or ``"discard"`` the events of a request
            that raised or whose status ``failure_status`` calls a failure.
        failure_status: which response statuses mean failure (default: ``>= 500``).
        shutdown_timeout: seconds to wait at shutdown for background handling.
        tracer_provider: OpenTelemetry tracer provider (default: the global one).
        meter_provider: OpenTelemetry meter provider (default: the global one).
        otel_spans: ``"two"`` (default): a ``create`` span per dispatch and a ``process``
            span per handler run; ``"one"``: only the ``process`` span, linked to the span
            current at dispatch (the request's). About half the tracing cost per event.
        spool: a :class:`~fastapi_events.spool.Spool` (e.g. ``SQLiteSpool(path)``): events
            are written before handlers see them and replayed after a crash.
        dead_letter: a handler object (or a function of the event) that receives the
            events a local function with ``retry=`` failed on every attempt.
        max_pending: how many events may wait in the background queues (late, outside
            requests, websockets, chained); beyond it they are spilled to the spool, or
            reported as dropped (``EventsDroppedError``) without one.
        correlation_id_header: the request header(s) ``Event.correlation_id`` is read
            from (default ``X-Request-ID``, then ``X-Correlation-ID``; ``None``: none).
            asgi-correlation-id's id wins when that middleware runs.

    Example::

        app.add_middleware(EventHandlerASGIMiddleware, handlers=[local_handler])
    """

    def __init__(
        self,
        app: ASGIApp,
        handlers: Iterable[object],
        middleware_id: int | None = None,
        *,
        on_error: ErrorHook | None = None,
        on_failed_request: Literal["handle", "discard"] = "handle",
        failure_status: Callable[[int], bool] = _server_error,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        otel_spans: Literal["two", "one"] = "two",
        spool: Spool | None = None,
        dead_letter: object = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        correlation_id_header: str | Sequence[str] | None = DEFAULT_CORRELATION_HEADERS,
    ) -> None:
        if on_failed_request not in ("handle", "discard"):
            raise ConfigurationError(
                "on_failed_request must be 'handle' or 'discard', got "
                f"{str(on_failed_request)[:40]!r} ({type(on_failed_request).__name__})"
            )
        check_middleware_id(middleware_id)
        headers = correlation_headers(correlation_id_header)
        self.app = app
        self._discard_failed = on_failed_request == "discard"
        self._failure_status = check_failure_status(failure_status)
        self.pipeline = self._pipeline_for(
            validate_handlers(handlers),
            middleware_id,
            on_error=on_error,
            shutdown_timeout=shutdown_timeout,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            otel_spans=otel_spans,
            spool=spool,
            dead_letter=dead_letter,
            max_pending=max_pending,
        )
        self.pipeline.correlation_headers = headers

    def _pipeline_for(
        self, handlers: tuple[object, ...], middleware_id: int | None, **options: Any
    ) -> EventPipeline:
        # Litestar builds one instance per route with the same arguments: share one pipeline.
        existing = _store.find(middleware_id) if middleware_id is not None else None
        if (
            existing is not None
            and existing.handlers == handlers
            and existing.on_error is options["on_error"]
        ):
            return existing
        pipeline = EventPipeline(
            handlers, middleware_id=id(self) if middleware_id is None else middleware_id, **options
        )
        _store.register(pipeline)
        return pipeline

    @property
    def middleware_id(self) -> int:
        """The id ``dispatch(middleware_id=...)`` reaches this middleware's handlers by."""
        return self.pipeline.middleware_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            await self._other(kind, scope, receive, send)
            return
        # An HTTP request, inline (the hot path: no coroutine frame of its own).
        self.pipeline.bind_loop()
        buffer = RequestBuffer(self.pipeline, scope)
        token = enter_buffer(buffer)
        try:
            if self._discard_failed:
                send = self._watch_status(buffer, send)
            try:
                await self.app(scope, receive, send)
            except BaseException:
                # Let the error (and so the 500) out now; handle the events afterwards.
                buffer.failed = True
                self._finish_in_background(buffer)
                raise
            events = buffer.take()  # the response is complete: drain
            if events and not (buffer.failed and self._discarded(events)):
                await self.pipeline.handle(events)
        finally:
            exit_buffer(token)

    async def _other(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self.app(scope, self._watch_lifespan(receive), send)
        else:
            await self.app(scope, receive, send)

    def _finish_in_background(self, buffer: RequestBuffer) -> None:
        buffer.drained = True
        if buffer.events and not self._discarded(buffer.events):
            buffer.flush_to_background()

    def _discarded(self, events: list[Event]) -> bool:
        """Whether the events of a failed request are dropped (logged by id) instead."""
        if not self._discard_failed:
            return False
        logger.info(
            "discarded %d event(s) of a failed request (on_failed_request='discard'), ids: %s",
            len(events),
            ", ".join(event.id for event in events),
        )
        return True

    def _watch_status(self, buffer: RequestBuffer, send: Send) -> Send:
        async def send_watching(message: Message) -> None:
            if message["type"] == "http.response.start" and self._failure_status(message["status"]):
                buffer.failed = True
            await send(message)

        return send_watching

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A socket may stay open for hours, and a push-only one never waits for a message:
        # its events go straight to the ordered background queue, handled as they come.
        self.pipeline.bind_loop()
        buffer = RequestBuffer(self.pipeline, scope)
        buffer.drained = True
        token = enter_buffer(buffer)
        try:
            await self.app(scope, receive, send)
        finally:
            exit_buffer(token)

    def _watch_lifespan(self, receive: Receive) -> Receive:
        async def receive_watching() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.pipeline.start()
            elif message["type"] == "lifespan.shutdown":
                await self.pipeline.shutdown()
            return message

        return receive_watching
