"""The ContextVars of fastapi_events, and the only code that touches them."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._buffer import RequestBuffer
    from ._reporting import ErrorHook

__all__ = [
    "current_buffer",
    "current_error_hook",
    "enter_buffer",
    "event_store",
    "exit_buffer",
    "set_error_hook",
]

#: The event buffer of the current request or event scope (``fastapi_events.event_store``).
event_store: ContextVar[RequestBuffer] = ContextVar("fastapi_events.event_store")
_error_hook: ContextVar[ErrorHook | None] = ContextVar("fastapi_events.error_hook", default=None)

current_buffer = event_store.get


def enter_buffer(buffer: RequestBuffer) -> Token[RequestBuffer]:
    """Make ``buffer`` the current one; pass the token to :func:`exit_buffer`."""
    return event_store.set(buffer)


def exit_buffer(token: Token[RequestBuffer]) -> None:
    """Restore the buffer that was current before :func:`enter_buffer`."""
    event_store.reset(token)


def current_error_hook() -> ErrorHook | None:
    """Return the error hook of the pipeline draining in this context, if any."""
    return _error_hook.get()


def set_error_hook(hook: ErrorHook | None) -> Token[ErrorHook | None]:
    """Set the error hook for handlers run in this context."""
    return _error_hook.set(hook)


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
