"""Serving the catalogue from a Litestar app (extra ``litestar``).

Example::

    from fastapi_events.catalogue import EventCatalogue
    from fastapi_events.catalogue.litestar import catalogue_handlers
    from fastapi_events.contrib.litestar import EventsPlugin

    app = Litestar(
        route_handlers=[*my_handlers, *catalogue_handlers(EventCatalogue(title="Shop"))],
        plugins=[EventsPlugin(handlers=[local_handler, forwarder])],
    )

.. versionadded:: 1.0
"""

from __future__ import annotations

import posixpath
from typing import Any

from ._catalogue import CatalogueApp, EventCatalogue

try:
    from litestar.handlers import asgi
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "Package 'litestar' is not installed but required. "
        "You can install it by running `pip install 'fastapi-events[litestar]'`"
    ) from exc

__all__ = ["catalogue_handlers"]


def catalogue_handlers(
    catalogue: EventCatalogue,
    *,
    json_path: str = "/asyncapi.json",
    html_path: str | None = "/asyncapi",
) -> list[Any]:
    """Litestar ASGI route handlers serving ``catalogue``'s document at ``json_path`` and
    its page at ``html_path`` (``None``: no page); add them to ``route_handlers``.

    The catalogue finds the middleware of the app serving the request (or pass its
    ``middleware_id`` as the catalogue's source).
    """
    handlers = [_handler(json_path, catalogue.json_app(), "fastapi_events_asyncapi_json")]
    if html_path is not None:
        link = posixpath.relpath(json_path, posixpath.dirname(html_path) or "/")
        handlers.append(_handler(html_path, catalogue.html_app(link), "fastapi_events_asyncapi"))
    return handlers


def _handler(path: str, app: CatalogueApp, name: str) -> Any:
    async def serve(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    return asgi(path, name=name, copy_scope=True)(serve)
