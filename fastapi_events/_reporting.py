"""One place that reports a failed handler: a log record and the user's error hook."""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._context import current_error_hook, current_telemetry
from ._event import Event
from ._redact import capped_repr, describe_event, describe_handler, describe_validation_error

if TYPE_CHECKING:
    from ._telemetry import Telemetry

__all__ = [
    "ErrorHook",
    "call_error_hook",
    "describe_event",
    "describe_handler",
    "must_propagate",
    "report_failure",
    "report_lost",
    "unique_events",
]

logger = logging.getLogger("fastapi_events")

#: ``on_error(event, handler, exception)``; ``handler`` is the failing handler object or
#: local function, or ``None`` when no handler was involved (for example at shutdown).
ErrorHook = Callable[[Event, Any, BaseException], None]


def must_propagate(exc: BaseException) -> bool:
    """True for what no error boundary may swallow: the cancellation of the running task
    itself, ``KeyboardInterrupt`` and ``SystemExit``.

    A ``CancelledError`` a handler raises while its own task is not being cancelled (it
    awaited a task someone else cancelled) is an ordinary failure of that handler. Python
    3.10 cannot tell the two apart (no ``Task.cancelling()``): there every
    ``CancelledError`` propagates, and the pipeline still accounts for its events.
    """
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        if task is None or sys.version_info < (3, 11):
            return True
        return task.cancelling() > 0
    return isinstance(exc, (KeyboardInterrupt, SystemExit))


def report_failure(
    event: Event,
    handler: object,
    exc: BaseException,
    hook: ErrorHook | None = None,
    *,
    message: str = "handler %s failed on event %s (id %s)",
    log: logging.Logger = logger,
) -> None:
    """Log one failure of ``handler`` on ``event`` and pass it to the error hook.

    The hook is ``hook`` if given, else the one of the pipeline currently draining.
    A failing hook is logged and never raised. ``log`` lets a forwarder report on its own
    logger (``fastapi_events.handlers.aws``); ``message`` takes the handler, the event
    name (a capped repr) and the event id as %-arguments. A pydantic ``ValidationError``,
    whose text quotes the input, is logged as field paths and types with its stack, never
    its text (the hook still gets the exception).
    """
    args = (describe_handler(handler), capped_repr(event.key), event.id)
    detail = describe_validation_error(exc)
    if detail is None:
        log.error(message, *args, exc_info=exc)
    else:
        stack = "".join(traceback.format_tb(exc.__traceback__)).rstrip("\n")
        log.error(message + ": %s\nTraceback (most recent call last):\n%s", *args, detail, stack)
    telemetry = current_telemetry()
    if telemetry is not None:
        telemetry.on_failure(event, handler, exc)
    call_error_hook(hook if hook is not None else current_error_hook(), event, handler, exc)


def call_error_hook(
    hook: ErrorHook | None, event: Event, handler: object, exc: BaseException
) -> None:
    """Call ``hook(event, handler, exc)`` if there is a hook; log (never raise) its failure."""
    if hook is None:
        return
    try:
        hook(event, handler, exc)
    except Exception:
        logger.exception(
            "error hook %s raised while reporting event %s (id %s)",
            describe_handler(hook),
            capped_repr(event.key),
            event.id,
        )


def report_lost(
    owed: Sequence[tuple[Any, Sequence[Event]]],
    error: Exception,
    hook: ErrorHook | None,
    telemetry: Telemetry | None,
) -> None:
    """Report events that will never be handled: one log record with the count and every
    id, then ``hook(event, handler, error)`` once per event and handler that owed it."""
    unique = unique_events(owed)
    if not unique:
        return
    if telemetry is not None:
        telemetry.on_lost(unique, error)
    logger.error(
        "%d event(s) not handled (%s: %s); ids: %s",
        len(unique),
        type(error).__name__,
        error,
        ", ".join(f"{event.id} ({describe_event(event)})" for event in unique),
    )
    for handler, events in owed:
        for event in events:
            call_error_hook(hook, event, handler, error)


def unique_events(owed: Sequence[tuple[Any, Sequence[Event]]]) -> list[Event]:
    """The distinct events of ``(handler, events)`` pairs, in first-seen order."""
    seen: dict[int, Event] = {}
    for _, events in owed:
        for event in events:
            seen.setdefault(id(event), event)
    return list(seen.values())
