"""One place that reports a failed handler: a log record and the user's error hook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._context import current_error_hook, current_telemetry
from ._event import Event

__all__ = ["ErrorHook", "call_error_hook", "describe_handler", "report_failure"]

logger = logging.getLogger("fastapi_events")

#: ``on_error(event, handler, exception)``; ``handler`` is the failing handler object or
#: local function, or ``None`` when no handler was involved (for example at shutdown).
ErrorHook = Callable[[Event, Any, BaseException], None]


def describe_handler(handler: object) -> str:
    """Return a readable qualified name for a handler object or function."""
    if handler is None:
        return "<none>"
    target = handler if callable(handler) and hasattr(handler, "__qualname__") else type(handler)
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{getattr(target, '__qualname__', repr(target))}"


def report_failure(
    event: Event,
    handler: object,
    exc: BaseException,
    hook: ErrorHook | None = None,
    *,
    message: str = "handler %s failed on event %r (id %s)",
    log: logging.Logger = logger,
) -> None:
    """Log one failure of ``handler`` on ``event`` and pass it to the error hook.

    The hook is ``hook`` if given, else the one of the pipeline currently draining.
    A failing hook is logged and never raised. ``log`` lets a forwarder report on its own
    logger (``fastapi_events.handlers.aws``); ``message`` takes the handler, the event
    name and the event id as %-arguments.
    """
    log.error(message, describe_handler(handler), event.key, event.id, exc_info=exc)
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
            "error hook %s raised while reporting event %r (id %s)",
            describe_handler(hook),
            event.key,
            event.id,
        )
