"""Litestar integration: the middleware on every route, plus draining at shutdown.

Litestar builds one middleware instance per route, eagerly, and app-level middleware never
sees the lifespan scope. :class:`EventsPlugin` gives every route's instance one shared
pipeline and hooks the app's ``on_startup``/``on_shutdown`` to bind it and drain it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .. import _store
from .._backpressure import DEFAULT_MAX_PENDING
from .._correlation import DEFAULT_CORRELATION_HEADERS
from .._pipeline import DEFAULT_SHUTDOWN_TIMEOUT
from .._reporting import ErrorHook
from ..middleware import EventHandlerASGIMiddleware, _server_error

try:
    from litestar.middleware import DefineMiddleware
    from litestar.plugins import InitPluginProtocol
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "Package 'litestar' is not installed but required. "
        "You can install it by running `pip install 'fastapi-events[litestar]'`"
    ) from exc

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

__all__ = ["EventsPlugin"]


class EventsPlugin(InitPluginProtocol):
    """Install :class:`EventHandlerASGIMiddleware` on a Litestar app and drain it at shutdown.

    Takes the middleware's arguments. Example::

        app = Litestar(route_handlers=[...], plugins=[EventsPlugin(handlers=[local_handler])])

    .. versionadded:: 1.0
    """

    def __init__(
        self,
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
        spool: Any = None,
        dead_letter: object = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        correlation_id_header: str | Sequence[str] | None = DEFAULT_CORRELATION_HEADERS,
    ) -> None:
        self.middleware_id = id(self) if middleware_id is None else middleware_id
        self._options: dict[str, Any] = {
            "handlers": tuple(handlers),
            "middleware_id": self.middleware_id,
            "on_error": on_error,
            "on_failed_request": on_failed_request,
            "failure_status": failure_status,
            "shutdown_timeout": shutdown_timeout,
            "tracer_provider": tracer_provider,
            "meter_provider": meter_provider,
            "otel_spans": otel_spans,
            "spool": spool,
            "dead_letter": dead_letter,
            "max_pending": max_pending,
            "correlation_id_header": correlation_id_header,
        }

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the middleware and the startup/shutdown hooks to ``app_config``."""
        # Our ASGI aliases are plain mappings; Litestar types its scopes as TypedDicts.
        middleware = DefineMiddleware(EventHandlerASGIMiddleware, **self._options)  # type: ignore[arg-type]
        app_config.middleware.append(middleware)
        app_config.on_startup.append(self._startup)
        app_config.on_shutdown.append(self._shutdown)
        return app_config

    async def _startup(self) -> None:
        pipeline = _store.find(self.middleware_id)
        if pipeline is not None:
            await pipeline.start()

    async def _shutdown(self) -> None:
        pipeline = _store.find(self.middleware_id)
        if pipeline is not None:
            await pipeline.shutdown()
