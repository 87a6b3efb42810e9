""":class:`EventCatalogue`: the document, the page, and the ASGI routes that serve them."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .._asgi import respond, serve_lifespan
from .._redact import capped_text
from ..errors import ConfigurationError, FastapiEventError
from ..handlers.base import BaseEventHandler
from ..ingress.app import EventIngress
from ..typing import Receive, Scope, Send
from ._document import build_document
from ._html import CONTENT_SECURITY_POLICY, render_html
from ._ingresses import app_described, given_ingresses, ingresses_in_app, served_ingresses
from ._settings import Settings
from ._sources import Source, handlers_of

__all__ = ["CatalogueApp", "EventCatalogue", "asyncapi_document"]


class EventCatalogue:
    """The AsyncAPI 3.0 document of an application's events, and routes serving it.

    The document lists one message per event name the payload schema registry knows (and
    per local handler pattern), with its payload's JSON Schema; the local functions that
    handle each event (``receive`` operations); the forwarders that send it, to which
    queue, topic, stream or subject (``send`` operations, routing functions named), in
    which format and with which headers; the consumers given; and the HTTP ingresses
    (:class:`~fastapi_events.ingress.EventIngress`) routed or mounted in the app, or
    given, at their paths. It is built anew at each call, so it shows the registrations of
    the moment.

    Args:
        source: what to describe: the app the middleware was added to (FastAPI, Starlette,
            Litestar, or any ASGI app wrapping it), the middleware, its ``middleware_id``,
            or a list of handlers. ``None`` (default): the app serving the request, else
            every middleware of the process.
        title: the document's title.
        version: the version of your application's events (not the library's).
        description: the document's description (default: a sentence saying what it lists).
        registry: the payload schema registry (default: the one ``dispatch()`` uses).
        models: more pydantic models with an ``__event_name__`` (dispatched as instances
            but not registered).
        consumers: consumers whose source and handlers to list (any object with a source
            attribute such as ``queue_url``, ``topic`` or ``stream``, and ``handlers``). An
            ``EventIngress`` here is listed as an ingress.
        ingresses: HTTP ingresses to list, as ``{"/events": ingress}`` (the path each
            answers at) or a list (their paths found in the app's routes, else unknown).
            Ingresses routed or mounted in the app described are found without it
            (FastAPI, Starlette).
        servers: AsyncAPI ``servers`` to include as they are (none by default: the
            document never shows connection URLs on its own).

    Raises:
        ConfigurationError: ``ingresses`` is not a mapping of paths to ``EventIngress``
            objects, nor a list of them.

    Example::

        app = FastAPI()
        app.add_middleware(EventHandlerASGIMiddleware, handlers=[local_handler, sqs])
        EventCatalogue(title="Shop events").add_routes(app)  # /asyncapi.json, /asyncapi

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        source: Source = None,
        *,
        title: str = "Events",
        version: str = "1.0.0",
        description: str | None = None,
        registry: Mapping[str, type] | None = None,
        models: Iterable[type] = (),
        consumers: Iterable[Any] = (),
        servers: Mapping[str, Any] | None = None,
        ingresses: Mapping[str, EventIngress] | Iterable[EventIngress] = (),
    ) -> None:
        consumers = tuple(consumers)
        listed = [c for c in consumers if isinstance(c, EventIngress)]
        self.source = source
        self.settings = Settings(
            title=title,
            version=version,
            description=description,
            registry=registry,
            models=tuple(models),
            consumers=tuple(c for c in consumers if not isinstance(c, EventIngress)),
            servers=servers,
            ingresses=given_ingresses(ingresses) + given_ingresses(listed),
        )

    def document(self, app: Any = None) -> dict[str, Any]:
        """Build the AsyncAPI document now.

        Args:
            app: the app serving the request, used when ``source`` is ``None``.

        Raises:
            UnknownMiddlewareIdError: ``source`` is an id no live middleware has.
            ConfigurationError: ``source`` holds no middleware (nor a routed ingress).
        """
        ingresses = served_ingresses(self.settings.ingresses, app_described(self.source, app))
        return build_document(self._handlers(app), self.settings, ingresses)

    def _handlers(self, app: Any) -> tuple[BaseEventHandler, ...]:
        """The handlers of ``source``; none for an app without the middleware that routes
        an ingress (its events arrive over HTTP only)."""
        try:
            return handlers_of(self.source, app)
        except ConfigurationError:
            if self.source is None or not ingresses_in_app(self.source):
                raise
            return ()

    def html(self, app: Any = None, *, json_url: str | None = None) -> str:
        """The document as a standalone HTML page (tables; no script, no external asset)."""
        return render_html(self.document(app), json_url=json_url)

    def json_app(self) -> CatalogueApp:
        """An ASGI app answering ``GET`` with the JSON document."""
        return CatalogueApp(self, "json")

    def html_app(self, json_url: str | None = "asyncapi.json") -> CatalogueApp:
        """An ASGI app answering ``GET`` with the HTML page, linking to ``json_url``."""
        return CatalogueApp(self, "html", json_url)

    def add_routes(
        self, app: Any, *, json_path: str = "/asyncapi.json", html_path: str | None = "/asyncapi"
    ) -> None:
        """Serve the document at ``json_path`` and the page at ``html_path`` (``None``: no
        page) of a FastAPI or Starlette app (kept out of its OpenAPI schema).

        For Litestar, see :func:`fastapi_events.catalogue.litestar.catalogue_handlers`.
        """
        app.add_route(json_path, self.json_app(), ["GET", "HEAD"], include_in_schema=False)
        if html_path is not None:
            link = posixpath.relpath(json_path, posixpath.dirname(html_path) or "/")
            app.add_route(html_path, self.html_app(link), ["GET", "HEAD"], include_in_schema=False)


def asyncapi_document(source: Source = None, **options: Any) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``source``: ``EventCatalogue(source, **options).document()``.

    Example::

        document = asyncapi_document(app, title="Shop events", version="2.1.0")

    .. versionadded:: 1.0
    """
    return EventCatalogue(source, **options).document()


class CatalogueApp:
    """The ASGI app of :meth:`EventCatalogue.json_app` and :meth:`EventCatalogue.html_app`:
    ``GET``/``HEAD`` on any path; ``503`` with the reason when the catalogue cannot find
    its handlers (no middleware yet, an unknown ``middleware_id``)."""

    def __init__(
        self, catalogue: EventCatalogue, kind: Literal["json", "html"], json_url: str | None = None
    ) -> None:
        self.catalogue = catalogue
        self.kind = kind
        self.json_url = json_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served on its own: nothing to start
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        head = scope["method"] == "HEAD"
        if scope["method"] not in ("GET", "HEAD"):
            await self._respond(send, 405, {"detail": "use GET or HEAD"}, head)
            return
        try:
            document = self.catalogue.document(scope.get("app"))
        except FastapiEventError as exc:
            await self._respond(send, 503, {"detail": capped_text(str(exc), 400)}, head)
            return
        await self._respond(send, 200, document, head)

    async def _respond(self, send: Send, status: int, body: dict[str, Any], head: bool) -> None:
        if self.kind == "json":
            data = json.dumps(body, ensure_ascii=False).encode()
            content_type = b"application/json"
        elif status == 200:
            data = render_html(body, json_url=self.json_url).encode()
            content_type = b"text/html; charset=utf-8"
        else:
            data = str(body.get("detail", "")).encode()
            content_type = b"text/plain; charset=utf-8"
        headers = [
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        await respond(send, status, data, content_type, head=head, headers=headers)
