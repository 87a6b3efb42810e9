"""One middleware's handlers and how events reach them: inline drains and background tasks."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ._buffer import RequestBuffer
from ._context import enter_pipeline
from ._event import Event
from ._lazy import has_lazy_payloads, resolve_lazy_payloads
from ._reporting import ErrorHook, call_error_hook, describe_handler, report_failure
from ._runner import BackgroundRunner, PendingEventsTimeout
from ._telemetry import Telemetry, create_telemetry
from .errors import ConfigurationError, EventsCancelledError, ShutdownTimeoutError
from .handlers.base import BaseEventHandler

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT", "EventPipeline"]

logger = logging.getLogger("fastapi_events")

DEFAULT_SHUTDOWN_TIMEOUT = 10.0


def validate_handlers(handlers: Iterable[object]) -> tuple[BaseEventHandler, ...]:
    """Materialise ``handlers`` once and check each is a :class:`BaseEventHandler`."""
    materialised: list[BaseEventHandler] = []
    for handler in handlers:
        if not isinstance(handler, BaseEventHandler):
            raise ConfigurationError(
                f"handlers must be BaseEventHandler instances, got {handler!r} "
                f"({type(handler).__name__}); wrap plain functions with "
                f"LocalHandler().register(...)"
            )
        materialised.append(handler)
    return tuple(materialised)


class EventPipeline:
    """Runs a fixed set of handlers over batches of events, isolating every failure."""

    def __init__(
        self,
        handlers: Iterable[object],
        *,
        middleware_id: int,
        on_error: ErrorHook | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        if on_error is not None and not callable(on_error):
            raise ConfigurationError(
                f"on_error must be a callable (event, handler, exception), got {on_error!r}"
            )
        self.handlers = validate_handlers(handlers)
        self.middleware_id = middleware_id
        self.on_error = on_error
        self.shutdown_timeout = shutdown_timeout
        self.runner = BackgroundRunner(self._report_cancelled)
        self._telemetry = create_telemetry(tracer_provider, meter_provider)
        #: The telemetry while it has anything to record, else ``None``: refreshed at
        #: startup and per batch, so per-event call sites only test for ``None``.
        self.telemetry: Telemetry | None = None
        self.refresh_telemetry()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[contextvars.Context, Callable[..., None], tuple[Any, ...]]] = []
        # A drained buffer: what is added to it goes to its ordered background queue.
        self._outside = RequestBuffer(self)
        self._outside.drained = True

    def bind_loop(self) -> None:
        """Remember the running loop (called per request: test clients may switch loops);
        run what was dispatched from another thread before there was one."""
        self._loop = asyncio.get_running_loop()
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            for context, fn, args in waiting:
                context.run(fn, *args)

    def refresh_telemetry(self) -> None:
        """Pick up an OpenTelemetry SDK configured since the last request."""
        telemetry = self._telemetry
        self.telemetry = telemetry if telemetry is not None and telemetry.enabled() else None

    def call_in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Call ``fn(*args)`` on the event loop, from the loop or from any thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            fn(*args)
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)
            return
        logger.warning(
            "no running event loop for middleware %r yet: event queued until the app starts",
            self.middleware_id,
        )
        self._waiting.append((contextvars.copy_context(), fn, args))

    def submit(self, event: Event) -> None:
        """Handle ``event`` in the background, from any thread.

        Events submitted outside requests share one ordered queue, so they are handled in
        submission order and in batches (a forwarder sends them together).
        """
        self._outside.add(event)

    async def handle(self, events: list[Event]) -> None:
        """Give ``events`` to every handler's ``handle_many``, handlers concurrently."""
        token = enter_pipeline(self)
        if self.telemetry is None and self._telemetry is not None:
            self.refresh_telemetry()
        try:
            if has_lazy_payloads(events):
                events = await resolve_lazy_payloads(events)
                if not events:
                    return
            handlers = self.handlers
            if len(handlers) == 1:  # the common case, without a coroutine for _run
                handler = handlers[0]
                try:
                    await handler.handle_many(events)
                except Exception as exc:
                    for event in events:
                        report_failure(event, handler, exc, self.on_error)
            else:
                await asyncio.gather(*[self._run(handler, events) for handler in handlers])
        finally:
            token.var.reset(token)

    async def _run(self, handler: BaseEventHandler, events: list[Event]) -> None:
        try:
            await handler.handle_many(events)
        except Exception as exc:
            for event in events:
                report_failure(event, handler, exc, self.on_error)

    async def wait_for_pending(self, timeout: float | None = None) -> None:
        """Wait until every background event of this pipeline has been handled."""
        await self.runner.wait_idle(timeout)

    async def start(self) -> None:
        """Bind the running loop and let every handler prepare (``astart``); a handler
        failing to start is logged and the others still start."""
        self.bind_loop()
        self.refresh_telemetry()
        for handler in self.handlers:
            try:
                await handler.astart()
            except Exception:
                logger.exception("starting handler %s failed", describe_handler(handler))

    async def shutdown(self, timeout: float | None = None) -> None:
        """Drain background work for up to ``timeout`` seconds, report the rest, close handlers."""
        timeout = self.shutdown_timeout if timeout is None else timeout
        try:
            await self.runner.wait_idle(timeout)
        except PendingEventsTimeout:
            error = ShutdownTimeoutError(f"not handled within the {timeout}s shutdown timeout")
            self._report_lost(await self.runner.cancel_all(), error)
        for handler in self.handlers:
            try:
                await handler.aclose()
            except Exception:
                logger.exception("closing handler %s failed", describe_handler(handler))

    def _report_cancelled(self, events: list[Event]) -> None:
        self._report_lost(events, EventsCancelledError("cancelled before it was handled"))

    def _report_lost(self, events: list[Event], error: Exception) -> None:
        if self.telemetry is not None:
            self.telemetry.on_lost(events, error)
        for event in events:
            logger.error("event %r (id %s) was not handled: %s", event.key, event.id, error)
            call_error_hook(self.on_error, event, None, error)
