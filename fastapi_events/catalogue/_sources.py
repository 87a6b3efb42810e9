"""Finding the handlers a catalogue describes: in a middleware, an app, a middleware id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .. import _store
from .._checks import validate_handlers
from .._pipeline import EventPipeline
from ..errors import ConfigurationError
from ..handlers.base import BaseEventHandler
from ..middleware import EventHandlerASGIMiddleware

__all__ = ["NOT_FOUND", "Source", "handlers_in_app", "handlers_of"]

#: What a catalogue can be built from.
Source = EventHandlerASGIMiddleware | EventPipeline | int | Iterable[BaseEventHandler] | Any

NOT_FOUND = (
    "found no EventHandlerASGIMiddleware in {found}: pass the app the middleware was added "
    "to, the middleware, its middleware_id, or a list of handlers"
)
_MAX_DEPTH = 64


def handlers_of(source: Source, app: Any = None) -> tuple[BaseEventHandler, ...]:
    """The handlers ``source`` names, in order, each once.

    Args:
        source: a middleware, its pipeline, a ``middleware_id``, an app (FastAPI,
            Starlette, Litestar or any ASGI app wrapping the middleware), handlers, or
            ``None``: the middleware of ``app``, else every middleware of the process.
        app: the app serving the request, for ``source=None``.

    Raises:
        UnknownMiddlewareIdError: ``source`` is an id no live middleware has.
        ConfigurationError: ``source`` is none of the above.
    """
    if source is None:
        found = handlers_in_app(app) if app is not None else None
        return found if found is not None else _unique(_every_pipeline())
    if isinstance(source, EventHandlerASGIMiddleware):
        return source.pipeline.handlers
    if isinstance(source, EventPipeline):
        return source.handlers
    if isinstance(source, int) and not isinstance(source, bool):
        return _store.lookup(source).handlers
    if isinstance(source, BaseEventHandler):
        return (source,)
    found = handlers_in_app(source)
    if found is not None:
        return found
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes, Mapping)):
        return _unique([validate_handlers(source)])
    raise ConfigurationError(NOT_FOUND.format(found=f"a value of type {type(source).__name__}"))


def handlers_in_app(app: Any) -> tuple[BaseEventHandler, ...] | None:
    """The handlers of every :class:`EventHandlerASGIMiddleware` in ``app`` (``None``:
    there is none): the middleware built (after the app's first ASGI call), else its
    definition (``app.add_middleware``, Litestar's ``middleware=`` or ``EventsPlugin``)."""
    built = [middleware.pipeline.handlers for middleware in _built(app)]
    if built:
        return _unique(built)
    defined = list(_defined(app))
    return _unique(defined) if defined else None


def _built(app: Any) -> Iterator[EventHandlerASGIMiddleware]:
    """The middleware instances reachable from ``app`` through ``.middleware_stack`` and
    ``.app`` (how Starlette and ASGI middleware hold the app they wrap)."""
    seen: set[int] = set()
    pending = [app]
    while pending and len(seen) < _MAX_DEPTH:
        node = pending.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EventHandlerASGIMiddleware):
            yield node
        pending.extend(
            getattr(node, name, None) for name in ("app", "middleware_stack") if _has(node, name)
        )


def _has(node: Any, name: str) -> bool:
    try:
        return name in vars(node)
    except TypeError:  # no __dict__ (slots)
        return hasattr(node, name)


def _defined(app: Any) -> Iterator[tuple[BaseEventHandler, ...]]:
    """The handlers of the middleware definitions of a Starlette (``user_middleware``) or
    Litestar (``middleware``) app."""
    for attribute in ("user_middleware", "middleware"):
        definitions = getattr(app, attribute, None)
        if not isinstance(definitions, (list, tuple)):
            continue
        for definition in definitions:
            factory = getattr(definition, "cls", None) or getattr(definition, "middleware", None)
            if isinstance(factory, type) and issubclass(factory, EventHandlerASGIMiddleware):
                yield _defined_handlers(definition)


def _defined_handlers(definition: Any) -> tuple[BaseEventHandler, ...]:
    kwargs: dict[str, Any] = dict(getattr(definition, "kwargs", None) or {})
    args: tuple[Any, ...] = tuple(getattr(definition, "args", None) or ())
    middleware_id = kwargs.get("middleware_id", args[1] if len(args) > 1 else None)
    pipeline = _store.find(middleware_id) if isinstance(middleware_id, int) else None
    if pipeline is not None:
        return pipeline.handlers
    handlers = kwargs.get("handlers", args[0] if args else None)
    if isinstance(handlers, Iterator):
        raise ConfigurationError(
            "the middleware's handlers are an iterator, which the catalogue cannot read "
            "without using it up: pass handlers=[...] as a list, or the handlers themselves"
        )
    return validate_handlers(handlers)  # type: ignore[arg-type]


def _every_pipeline() -> list[tuple[BaseEventHandler, ...]]:
    return [pipeline.handlers for pipeline in _store.registered()]


def _unique(groups: Iterable[tuple[BaseEventHandler, ...]]) -> tuple[BaseEventHandler, ...]:
    found: dict[int, BaseEventHandler] = {}
    for group in groups:
        for handler in group:
            found.setdefault(id(handler), handler)
    return tuple(found.values())
