"""Finding the HTTP ingresses a catalogue describes, and the path each one is served at.

An :class:`~fastapi_events.ingress.EventIngress` does not know where it is mounted, so the
catalogue reads it from the app: a Starlette or FastAPI route whose endpoint is the ingress
(``app.add_route("/events", ingress)``: ``/events``), or a mount of it
(``app.mount("/events", ingress)``: ``/events/``), nested mounts included. Ingresses given
to the catalogue (``ingresses={"/events": ingress}`` or a list) come first; a path given
there wins over the one found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._pipeline import EventPipeline
from ..errors import ConfigurationError
from ..handlers.base import BaseEventHandler
from ..ingress.app import EventIngress

__all__ = [
    "INGRESSES_TYPE",
    "ServedIngress",
    "app_described",
    "given_ingresses",
    "ingresses_in_app",
    "served_ingresses",
]

#: The message of the ConfigurationError for an ``ingresses=`` of the wrong shape.
INGRESSES_TYPE = (
    "ingresses must map the path each ingress is served at to the EventIngress "
    "(ingresses={{'/events': ingress}}) or list EventIngress objects, got {found}"
)
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class ServedIngress:
    """An ingress and the path it answers at (``None``: not known)."""

    ingress: EventIngress
    path: str | None


def given_ingresses(ingresses: Mapping[str, Any] | Iterable[Any]) -> tuple[ServedIngress, ...]:
    """``ingresses=`` as (ingress, path) pairs.

    Raises:
        ConfigurationError: not a mapping of ``str`` to ``EventIngress``, nor a list of them.
    """
    if isinstance(ingresses, Mapping):
        pairs: list[tuple[Any, Any]] = [(value, key) for key, value in ingresses.items()]
    elif isinstance(ingresses, Iterable) and not isinstance(ingresses, (str, bytes)):
        pairs = [(value, None) for value in ingresses]
    else:
        raise ConfigurationError(INGRESSES_TYPE.format(found=f"a {type(ingresses).__name__}"))
    for ingress, path in pairs:
        if not isinstance(ingress, EventIngress) or not isinstance(path, (str, type(None))):
            found = f"a {type(ingress).__name__} at a {type(path).__name__} key"
            raise ConfigurationError(INGRESSES_TYPE.format(found=found))
    return tuple(ServedIngress(ingress, path) for ingress, path in pairs)


def app_described(source: Any, app: Any) -> Any:
    """The app whose routes may serve ingresses: ``source`` when it is an app (or a
    middleware, wrapping one), the app serving the request when ``source`` is ``None``;
    else ``None`` (a ``middleware_id`` or handlers name no routes)."""
    if source is None:
        return app
    named = (EventPipeline, int, BaseEventHandler, list, tuple, set, frozenset)
    return None if isinstance(source, named) else source


def served_ingresses(given: Sequence[ServedIngress], app: Any) -> list[ServedIngress]:
    """The ingresses given (a path found in ``app`` filled in where none was given), then
    those ``app`` routes that were not given; each (ingress, path) once."""
    found = ingresses_in_app(app) if app is not None else []
    with_path = {id(served.ingress) for served in given if served.path is not None}
    listed: list[ServedIngress] = []
    for served in given:
        if served.path is not None:
            listed.append(served)
        elif id(served.ingress) not in with_path:
            paths = [f for f in found if f.ingress is served.ingress]
            listed.extend(paths or [served])
    given_ids = {id(served.ingress) for served in given}
    listed.extend(f for f in found if id(f.ingress) not in given_ids)
    unique: dict[tuple[int, str | None], ServedIngress] = {}
    for served in listed:
        unique.setdefault((id(served.ingress), served.path), served)
    return list(unique.values())


def ingresses_in_app(app: Any) -> list[ServedIngress]:
    """Each ingress routed or mounted in a Starlette or FastAPI ``app`` (or an ASGI app
    wrapping one), with its path."""
    routes = _routes_of(app)
    return [] if routes is None else list(_walk(routes, "", 0))


def _routes_of(node: Any) -> Sequence[Any] | None:
    """The ``routes`` of ``node``, or of the app it wraps (``.app``, as ASGI middleware)."""
    for _ in range(_MAX_DEPTH):
        if node is None or isinstance(node, EventIngress):
            return None
        routes = getattr(node, "routes", None)
        if isinstance(routes, (list, tuple)):
            return routes
        node = getattr(node, "app", None)
    return None


def _unwrapped(node: Any) -> Any:
    """The app under the ASGI middleware around ``node`` (a mount's ``middleware=``)."""
    for _ in range(_MAX_DEPTH):
        if node is None or isinstance(node, EventIngress):
            return node
        node = getattr(node, "app", None)
    return None


def _walk(routes: Iterable[Any], prefix: str, depth: int) -> Iterator[ServedIngress]:
    for route in routes:
        path = prefix + str(getattr(route, "path", "") or "")
        if isinstance(getattr(route, "endpoint", None), EventIngress):
            yield ServedIngress(route.endpoint, path or "/")
            continue
        mounted = _unwrapped(getattr(route, "app", None))
        if isinstance(mounted, EventIngress):  # a mount answers under its path and a slash
            yield ServedIngress(mounted, path + "/")
            continue
        nested = getattr(route, "routes", None) or _routes_of(getattr(route, "app", None))
        if isinstance(nested, (list, tuple)) and depth < _MAX_DEPTH:
            yield from _walk(nested, path, depth + 1)
