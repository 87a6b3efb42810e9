"""One middleware's handlers and how events reach them: inline drains and background tasks.

Every event ends in exactly one outcome per handler object: handled, or reported (log +
error hook). A drain cancelled under it (a server's graceful-shutdown timeout, an outer
timeout) moves what is still owed to the tracked background runner; shutdown waits for that
runner and reports exactly what is still owed when its timeout runs out.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, Literal

from ._backpressure import DEFAULT_MAX_PENDING, Admission
from ._checks import check_dead_letter, check_providers, check_shutdown_timeout, validate_handlers
from ._context import enter_pipeline, enter_progress, exit_pipeline, exit_progress
from ._correlation import DEFAULT_CORRELATION_HEADERS, correlation_headers
from ._durability import link_spool
from ._event import Event
from ._payload import LazyPayload, has_lazy_payloads, resolve_lazy_payloads
from ._progress import Progress
from ._reporting import (
    ErrorHook,
    describe_event,
    describe_handler,
    must_propagate,
    report_failure,
    report_lost,
)
from ._runner import BackgroundRunner, Tracked
from ._telemetry import Telemetry
from ._telemetry_setup import create_telemetry
from ._work import LateQueue, Owed, Work
from .errors import (
    ConfigurationError,
    EventLoopClosedError,
    EventsCancelledError,
    PendingEventsTimeout,
    ShutdownTimeoutError,
)
from .handlers.base import BaseEventHandler
from .spool import Spool, SpooledEvent

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT", "EventPipeline", "validate_handlers"]

logger = logging.getLogger("fastapi_events")

DEFAULT_SHUTDOWN_TIMEOUT = 10.0


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
        otel_spans: Literal["two", "one"] = "two",
        spool: Spool | None = None,
        dead_letter: object = None,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if on_error is not None and not callable(on_error):
            raise ConfigurationError(
                "on_error must be a callable (event, handler, exception), "
                f"got a {type(on_error).__name__} object"
            )
        self.handlers: tuple[BaseEventHandler, ...] = validate_handlers(handlers)
        self.middleware_id = middleware_id
        self.on_error = on_error
        self.shutdown_timeout = check_shutdown_timeout(shutdown_timeout)
        check_providers(tracer_provider, meter_provider)
        self._spool = None if spool is None else link_spool(spool, self.handlers)
        #: Where events go once a local function's retries are spent (a handler object).
        self.dead_letter = check_dead_letter(dead_letter)
        self.runner = BackgroundRunner(self._report_cancelled)
        self._telemetry = create_telemetry(tracer_provider, meter_provider, otel_spans)
        #: The telemetry while it has anything to record, else ``None``: refreshed at
        #: startup and per batch, so per-event call sites only test for ``None``.
        self.telemetry: Telemetry | None = None
        self.refresh_telemetry()
        #: Request headers a correlation id is read from (the middleware sets them).
        self.correlation_headers: tuple[bytes, ...] = correlation_headers(
            DEFAULT_CORRELATION_HEADERS
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[contextvars.Context, Callable[..., None], Event]] = []
        # Events submitted outside requests (and what their handlers chain): one queue.
        self.admission = Admission(max_pending, self._report_lost, self.handlers)
        if self._spool is not None:
            self.admission.spill = self._spool.spool.spill
        self._outside = self.late_queue(_as_is, fresh=True)

    def bind_loop(self) -> None:
        """Remember the running loop (called per request: test clients may switch loops);
        run what was dispatched from another thread before there was one."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self.runner.sweep_closed_loops()
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            for context, fn, event in waiting:
                context.run(fn, event)

    def refresh_telemetry(self) -> None:
        """Pick up an OpenTelemetry SDK configured since the last request."""
        telemetry = self._telemetry
        self.telemetry = telemetry if telemetry is not None and telemetry.enabled() else None

    def call_in_loop(self, fn: Callable[[Event], None], event: Event) -> None:
        """Call ``fn(event)`` on the event loop, from the loop or from any thread.

        Before the app has started, the call waits for its first request or startup; after
        its loop has stopped, ``event`` is reported (:class:`EventLoopClosedError`).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            fn(event)
            return
        loop = self._loop
        if loop is None:
            logger.warning(
                "event %s (id %s) dispatched before middleware %r has an event loop: "
                "it is handled when the app starts",
                describe_event(event),
                event.id,
                self.middleware_id,
            )
            self._waiting.append((contextvars.copy_context(), fn, event))
        elif loop.is_running():
            loop.call_soon_threadsafe(fn, event)
        else:
            error = EventLoopClosedError(
                "dispatched from a thread after the app's event loop stopped; dispatch "
                "while the app runs, or in an event_scope() of your own loop"
            )
            self._report_lost([(handler, [event]) for handler in self.handlers], error)

    def submit(self, event: Event) -> None:
        """Handle ``event`` in the background, from any thread.

        Events submitted outside requests share one ordered queue, so they are handled in
        submission order and in batches (a forwarder sends them together).
        """
        self.call_in_loop(self._outside.add, event)

    def late_queue(
        self, around: Callable[[Awaitable[None]], Awaitable[None]], *, fresh: bool = False
    ) -> LateQueue:
        """An ordered background queue of this pipeline's handlers, bounded by
        ``max_pending`` (``fresh``: its worker runs in an empty context)."""
        spawn = self._spawn_fresh if fresh else self.runner.spawn
        return LateQueue(self.handlers, self.run, spawn, around, self.admission)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop of the app's latest request or startup, or ``None`` before."""
        return self._loop

    def _spawn_fresh(self, coro: Coroutine[Any, Any, None], tracked: Tracked) -> asyncio.Task[None]:
        # A task of its own, in an empty context: no request buffer of whoever submitted.
        return contextvars.Context().run(self.runner.spawn, coro, tracked)

    async def handle(self, events: list[Event]) -> None:
        """Drain ``events`` now; if the calling task is cancelled meanwhile, what is still
        owed continues in the background runner (and is accounted at shutdown)."""
        work = Work(events, self.handlers)
        try:
            await self.run(work)
        except asyncio.CancelledError:
            self.continue_in_background(work)
            raise

    def continue_in_background(self, work: Work) -> None:
        """Finish ``work`` in a tracked background task."""
        if work.unsettled():
            self.runner.spawn(self.run(work), work)

    async def run(self, work: Work) -> None:
        """Give every handler the events of ``work`` it still owes, handlers concurrently."""
        token = enter_pipeline(self)
        if self._telemetry is not None:
            self.refresh_telemetry()
        try:
            if LazyPayload.made_any and has_lazy_payloads(work.events):
                work.events = await resolve_lazy_payloads(work.events)
            if self._spool is not None:
                await self._spool.write(work)
            parts = work.parts
            if len(parts) == 1:  # the common case, without a task per handler
                await self._run(*parts[0], work.events)
            else:
                await asyncio.gather(*[self._run(h, p, work.events) for h, p in parts])
        finally:
            exit_pipeline(token)

    async def _run(
        self, handler: BaseEventHandler, progress: Progress, events: list[Event]
    ) -> None:
        owed = progress.owed(events)
        if not owed:
            return
        token = enter_progress(progress)
        if self._spool is not None:  # each event is marked done as the handler settles it
            progress.on_settle = self._spool.marker(handler)
        try:
            await handler.handle_many(owed)
        except BaseException as exc:
            if must_propagate(exc) and isinstance(exc, asyncio.CancelledError):
                self._spooled_done(handler, [e for e in owed if progress.is_settled(e)])
                raise  # the drain itself is cancelled: the caller continues it elsewhere
            for event in progress.owed(owed):
                report_failure(event, handler, exc, self.on_error)
            progress.finish()
            self._spooled_done(handler, owed)
            if must_propagate(exc):
                raise
        else:
            progress.finish()
            if self._spool is not None:
                self._spool.done(handler, owed)
        finally:
            exit_progress(token)

    def _spooled_done(self, handler: BaseEventHandler, events: Sequence[Event]) -> None:
        if self._spool is not None and events:
            self._spool.done(handler, events)

    async def wait_for_pending(self, timeout: float | None = None) -> None:
        """Wait until every background event of this pipeline has been handled."""
        await self.runner.wait_idle(timeout)

    async def start(self) -> None:
        """Bind the running loop and let every handler prepare (``astart``); a handler
        failing to start is logged and the others still start."""
        self.bind_loop()
        self.refresh_telemetry()
        if self._spool is not None:
            await self._spool.spool.open(
                len(self.handlers), self._replay, capacity=self.admission.capacity
            )
        for handler in self.handlers:
            try:
                await handler.astart()
            except Exception:
                logger.exception("starting handler %s failed", describe_handler(handler))

    async def shutdown(self, timeout: float | None = None) -> None:
        """Drain background work for up to ``timeout`` seconds, report exactly what is
        still owed, close handlers."""
        timeout = self.shutdown_timeout if timeout is None else timeout
        await asyncio.sleep(0)  # let drains cancelled just now move to the runner
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
        if self._spool is not None:
            await self._spool.spool.close()

    def _replay(self, orphans: list[SpooledEvent]) -> None:
        if orphans and self._spool is not None:
            work = self._spool.replay(orphans)
            self.admission.pending += len(orphans)  # replays count against max_pending
            self.runner.spawn(self._run_replay(work), work)

    async def _run_replay(self, work: Work) -> None:
        try:
            await self.run(work)
        finally:
            self.admission.release(len(work.events))

    def _report_cancelled(self, owed: list[Owed]) -> None:
        self._report_lost(owed, EventsCancelledError("cancelled before it was handled"))

    def _report_lost(self, owed: list[Owed], error: Exception) -> None:
        if self._spool is not None:  # what the spool holds is replayed, not lost
            owed = self._spool.keep(owed, error)
        report_lost(owed, error, self.on_error, self.telemetry)


async def _as_is(work: Awaitable[None]) -> None:
    await work
