"""The ContextVars of fastapi_events, and the only code that touches them.

This is the bottom layer: it imports nothing of the package. What it stores is described
by the small protocols below, which the buffer and the pipeline satisfy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any, Literal, Protocol

__all__ = [
    "DerivedContextVar",
    "EventBuffer",
    "RunningPipeline",
    "current_batch_span",
    "current_buffer",
    "current_dependency_overrides",
    "current_error_hook",
    "current_progress",
    "current_running_pipeline",
    "current_telemetry",
    "enter_batch_span",
    "enter_buffer",
    "enter_pipeline",
    "enter_progress",
    "event_store",
    "exit_buffer",
    "exit_pipeline",
    "exit_progress",
    "reset",
]


class EventBuffer(Protocol):
    """What ``dispatch()`` finds in the context: the current request's (or scope's) buffer."""

    #: The ASGI scope of the request, or ``None``.
    scope: Any
    #: The pipeline whose handlers receive the buffer's events.
    pipeline: Any
    #: The events buffered so far (``dispatch()`` appends while not ``drained``).
    events: list[Any]
    #: True once the events were taken: what comes later goes through ``add``.
    drained: bool
    #: The correlation id once looked up; ``False`` before (then read ``correlation_id``).
    known_correlation_id: str | Literal[False] | None

    @property
    def middleware_id(self) -> int:
        """The id of the middleware whose handlers receive these events."""

    @property
    def correlation_id(self) -> str | None:
        """The request's correlation id, or ``None``."""

    def add(self, event: Any) -> None:
        """Take one dispatched event."""


class RunningPipeline(Protocol):
    """The pipeline running handlers in this context."""

    #: ``on_error(event, handler, exception)``, or ``None``.
    on_error: Callable[[Any, Any, BaseException], None] | None
    #: Its telemetry while it records anything, else ``None``.
    telemetry: Any

    def submit(self, event: Any) -> None:
        """Handle ``event`` in the background (what handlers chain outside requests)."""


#: The event buffer of the current request or event scope (``fastapi_events.event_store``).
event_store: ContextVar[EventBuffer] = ContextVar("fastapi_events.event_store")
#: The pipeline whose handlers run in this context (its error hook and telemetry apply).
_running: ContextVar[RunningPipeline | None] = ContextVar("fastapi_events.pipeline", default=None)
#: What the handler object running in this context has finished of its batch.
_progress: ContextVar[Any] = ContextVar("fastapi_events.progress", default=None)
#: The forwarder batch span open in this context (OpenTelemetry), if any.
_batch_span: ContextVar[Any] = ContextVar("fastapi_events.batch_span", default=None)

current_buffer = event_store.get
current_running_pipeline = _running.get
#: The :class:`~fastapi_events._progress.Progress` of the running handler, or ``None``
#: when a handler is called directly (outside a pipeline).
current_progress = _progress.get
current_batch_span = _batch_span.get


def reset(token: Token[Any]) -> None:
    """Undo one ``enter_*`` call."""
    token.var.reset(token)


#: ``enter_progress(progress)``: make it the running handler's record; :func:`reset` (or
#: :func:`exit_progress`) undoes it. The ContextVar's own method: no Python frame.
enter_progress: Callable[[Any], Token[Any]] = _progress.set
#: Undo one :func:`enter_progress` (``reset`` for that variable, without a Python frame).
exit_progress: Callable[[Token[Any]], None] = _progress.reset


def enter_batch_span(span: Any) -> Token[Any]:
    """Make ``span`` the open batch span; :func:`reset` undoes it."""
    return _batch_span.set(span)


#: ``enter_buffer(buffer)``: make it the current one; pass the token to :func:`exit_buffer`.
enter_buffer: Callable[[EventBuffer], Token[EventBuffer]] = event_store.set
#: ``exit_buffer(token)``: restore the buffer that was current before :func:`enter_buffer`.
exit_buffer: Callable[[Token[EventBuffer]], None] = event_store.reset


def current_dependency_overrides() -> Mapping[Any, Any] | None:
    """The ``dependency_overrides`` of the current request's app (FastAPI), or ``None``
    when there are none (no request, no FastAPI app, or an empty mapping)."""
    buffer = event_store.get(None)
    scope = None if buffer is None else buffer.scope
    if scope is None:
        return None
    overrides = getattr(scope.get("app"), "dependency_overrides", None)
    return overrides if overrides else None


#: ``enter_pipeline(pipeline)``: mark it as the one running handlers in this context;
#: :func:`exit_pipeline` (or :func:`reset`) undoes it.
enter_pipeline: Callable[[RunningPipeline | None], Token[RunningPipeline | None]] = _running.set
#: Undo one :func:`enter_pipeline`.
exit_pipeline: Callable[[Token[RunningPipeline | None]], None] = _running.reset


def current_error_hook() -> Callable[[Any, Any, BaseException], None] | None:
    """Return the error hook of the pipeline running handlers in this context, if any."""
    pipeline = _running.get()
    return None if pipeline is None else pipeline.on_error


def current_telemetry() -> Any:
    """Return the telemetry of the pipeline running handlers in this context, if any."""
    pipeline = _running.get()
    return None if pipeline is None else pipeline.telemetry


class DerivedContextVar:
    """A read-only stand-in for a 0.12 ContextVar, computed from the current buffer."""

    def __init__(self, name: str, attribute: str) -> None:
        self.name = name
        self._attribute = attribute

    def get(self, *default: Any) -> Any:
        """Return the value for the current context, like ``ContextVar.get``."""
        buffer = event_store.get(None)
        if buffer is not None:
            return getattr(buffer, self._attribute)
        if default:
            return default[0]
        raise LookupError(self)

    def __repr__(self) -> str:
        return f"<DerivedContextVar name={self.name!r}>"
