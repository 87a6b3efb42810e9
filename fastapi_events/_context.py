"""The ContextVars of fastapi_events, and the only code that touches them."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._buffer import RequestBuffer
    from ._pipeline import EventPipeline
    from ._progress import Progress
    from ._reporting import ErrorHook
    from ._telemetry import Telemetry

__all__ = [
    "current_buffer",
    "current_dependency_overrides",
    "current_error_hook",
    "current_progress",
    "current_telemetry",
    "enter_buffer",
    "enter_pipeline",
    "enter_progress",
    "event_store",
    "exit_buffer",
]

#: The event buffer of the current request or event scope (``fastapi_events.event_store``).
event_store: ContextVar[RequestBuffer] = ContextVar("fastapi_events.event_store")
#: The pipeline whose handlers run in this context (its error hook and telemetry apply).
_running: ContextVar[EventPipeline | None] = ContextVar("fastapi_events.pipeline", default=None)
#: What the handler object running in this context has finished of its batch.
_progress: ContextVar[Progress | None] = ContextVar("fastapi_events.progress", default=None)

current_buffer = event_store.get

#: The :class:`~fastapi_events._progress.Progress` of the running handler, or ``None``
#: when a handler is called directly (outside a pipeline).
current_progress = _progress.get


def enter_progress(progress: Progress | None) -> Token[Progress | None]:
    """Make ``progress`` the running handler's record; ``token.var.reset(token)`` undoes it."""
    return _progress.set(progress)


def enter_buffer(buffer: RequestBuffer) -> Token[RequestBuffer]:
    """Make ``buffer`` the current one; pass the token to :func:`exit_buffer`."""
    return event_store.set(buffer)


def exit_buffer(token: Token[RequestBuffer]) -> None:
    """Restore the buffer that was current before :func:`enter_buffer`."""
    event_store.reset(token)


def current_dependency_overrides() -> Mapping[Any, Any] | None:
    """The ``dependency_overrides`` of the current request's app (FastAPI), or ``None``
    when there are none (no request, no FastAPI app, or an empty mapping)."""
    buffer = event_store.get(None)
    scope = None if buffer is None else buffer.scope
    if scope is None:
        return None
    overrides = getattr(scope.get("app"), "dependency_overrides", None)
    return overrides if overrides else None


def enter_pipeline(pipeline: EventPipeline) -> Token[EventPipeline | None]:
    """Mark ``pipeline`` as the one running handlers in this context."""
    return _running.set(pipeline)


def current_error_hook() -> ErrorHook | None:
    """Return the error hook of the pipeline running handlers in this context, if any."""
    pipeline = _running.get()
    return None if pipeline is None else pipeline.on_error


def current_telemetry() -> Telemetry | None:
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
