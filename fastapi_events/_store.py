"""Every live pipeline, by middleware id: how ``dispatch(middleware_id=...)`` finds handlers."""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping

from ._pipeline import EventPipeline
from ._redact import capped_repr
from .errors import UnknownMiddlewareIdError
from .handlers.base import BaseEventHandler

__all__ = [
    "HandlerStoreView",
    "all_pipelines",
    "clear",
    "find",
    "lookup",
    "register",
    "registered",
    "track",
]

_by_id: weakref.WeakValueDictionary[int, EventPipeline] = weakref.WeakValueDictionary()
_all: weakref.WeakSet[EventPipeline] = weakref.WeakSet()


def register(pipeline: EventPipeline) -> None:
    """Make ``pipeline`` reachable by its middleware id (a later one with the same id wins)."""
    _by_id[pipeline.middleware_id] = pipeline
    _all.add(pipeline)


def track(pipeline: EventPipeline) -> None:
    """Count ``pipeline`` in :func:`all_pipelines` without giving it an id."""
    _all.add(pipeline)


def find(middleware_id: int) -> EventPipeline | None:
    """Return the pipeline registered under ``middleware_id``, or ``None``."""
    return _by_id.get(middleware_id)


def lookup(middleware_id: int) -> EventPipeline:
    """Return the pipeline registered under ``middleware_id``.

    Raises:
        UnknownMiddlewareIdError: no live middleware has that id.
    """
    pipeline = _by_id.get(middleware_id)
    if pipeline is None:
        known = sorted(_by_id.keys())
        raise UnknownMiddlewareIdError(
            f"no EventHandlerASGIMiddleware with middleware_id={capped_repr(middleware_id)} "
            f"(known ids: {known}); pass the same middleware_id to the middleware, and note "
            f"that Starlette/FastAPI build middleware on the app's first ASGI call (startup)"
        )
    return pipeline


def registered() -> list[EventPipeline]:
    """Every live pipeline reachable by a middleware id."""
    return list(_by_id.values())


def all_pipelines() -> list[EventPipeline]:
    """Every live pipeline, with or without an id."""
    return list(_all)


def clear() -> None:
    """Forget every pipeline (test isolation)."""
    _by_id.clear()
    _all.clear()


class HandlerStoreView(Mapping[int, list[BaseEventHandler]]):
    """Read-only ``middleware id -> handlers``: 0.12's ``fastapi_events.handler_store``."""

    def __getitem__(self, middleware_id: int) -> list[BaseEventHandler]:
        pipeline = _by_id.get(middleware_id)
        if pipeline is None:
            raise KeyError(middleware_id)
        return list(pipeline.handlers)

    def __iter__(self) -> Iterator[int]:
        return iter(list(_by_id.keys()))

    def __len__(self) -> int:
        return len(_by_id)
