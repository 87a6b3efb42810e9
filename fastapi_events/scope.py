"""Events outside requests: background jobs, startup hooks, scripts and tests (upstream #68)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Literal

from . import _store
from ._buffer import RequestBuffer
from ._context import enter_buffer, exit_buffer
from ._pipeline import EventPipeline
from ._redact import capped_repr
from ._reporting import ErrorHook
from .errors import PendingEventsTimeout
from .spool import Spool

__all__ = ["event_scope", "wait_for_pending"]


@asynccontextmanager
async def event_scope(
    handlers: Iterable[object] | None = None,
    *,
    middleware_id: int | None = None,
    on_error: ErrorHook | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    otel_spans: Literal["two", "one"] = "two",
    spool: Spool | None = None,
) -> AsyncIterator[RequestBuffer]:
    """Collect the events dispatched inside the block and handle them at its exit.

    The store keeps middleware weakly: ``middleware_id`` reaches a middleware only while
    its app is alive.

    Give either ``handlers`` (a private pipeline, waited for completely at exit,
    chained events included) or the ``middleware_id`` of a running middleware (its
    handlers, error hook and background runner).

    Example::

        async with event_scope(handlers=[local_handler]):
            dispatch("report.generated", {"rows": 10})
        # every handler has run here

    With ``spool=`` (and ``handlers``), the scope opens the spool at entry, replaying what a
    crashed run left, and closes it at exit. ``tracer_provider``, ``meter_provider`` and
    ``otel_spans`` are the middleware's options, for a scope with ``handlers``.

    Raises:
        ConfigurationError: neither or both of ``handlers`` and ``middleware_id``.
        UnknownMiddlewareIdError: no middleware has ``middleware_id``.

    .. versionadded:: 1.0
    """
    pipeline, owned = _scope_pipeline(
        handlers,
        middleware_id,
        on_error=on_error,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        otel_spans=otel_spans,
        spool=spool,
    )
    if spool is not None and owned:
        await pipeline.start()  # opens the spool and replays what a crash left
    pipeline.bind_loop()
    pipeline.refresh_telemetry()
    buffer = RequestBuffer(pipeline)
    token = enter_buffer(buffer)
    try:
        try:
            yield buffer
        finally:
            # Also when the block raised: events are never dropped silently. Drained in
            # the scope's context, so handlers can chain events.
            events = buffer.take()
            if events:
                await pipeline.handle(events)
            if owned:
                await pipeline.wait_for_pending()
                if spool is not None:
                    await pipeline.shutdown()
    finally:
        exit_buffer(token)


def _scope_pipeline(
    handlers: Iterable[object] | None, middleware_id: int | None, **options: Any
) -> tuple[EventPipeline, bool]:
    from .errors import ConfigurationError

    if (handlers is None) == (middleware_id is None):
        raise ConfigurationError(
            "event_scope() needs exactly one of handlers=[...] or middleware_id=..., "
            f"got handlers={capped_repr(handlers)}, middleware_id={capped_repr(middleware_id)}"
        )
    if middleware_id is not None:
        return _store.lookup(middleware_id), False
    pipeline = EventPipeline(handlers or (), middleware_id=0, **options)
    pipeline.middleware_id = id(pipeline)
    _store.track(pipeline)
    return pipeline, True


async def wait_for_pending(timeout: float | None = None) -> None:
    """Wait until every event handled in the background on this event loop is done.

    Includes events chained from handlers while waiting. Apps running on another loop (a
    sync ``TestClient`` runs one in a thread) are waited for by
    :func:`fastapi_events.testing.wait_until_handled_sync`.

    Raises:
        TimeoutError: events were still pending after ``timeout`` seconds; the message
            names them.

    .. versionadded:: 1.0
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    await asyncio.sleep(0)  # let events just handed to this loop start their tasks
    while busy := [p for p in _store.all_pipelines() if p.runner.runs_on(loop) and p.runner.busy()]:
        for pipeline in busy:
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                await pipeline.wait_for_pending(remaining)
            except PendingEventsTimeout:
                pending = [event for p in busy for event in p.runner.pending_events()]
                raise PendingEventsTimeout(pending, timeout) from None
