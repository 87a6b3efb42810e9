"""The request's app and its dependency overrides, as the current buffer's handlers see them."""

from __future__ import annotations

import contextvars
from typing import Any

from fastapi_events import _context
from fastapi_events._buffer import RequestBuffer
from fastapi_events._context import (
    current_dependency_overrides,
    enter_app,
    enter_buffer,
    exit_buffer,
)
from fastapi_events._pipeline import EventPipeline


class App:
    """Stands for a FastAPI app: only its ``dependency_overrides`` matter."""

    def __init__(self, **overrides: Any) -> None:
        self.dependency_overrides = overrides


def new_buffer() -> RequestBuffer:
    return RequestBuffer(EventPipeline((), middleware_id=1))


def serve(app: object, inner: Any = None) -> list[Any]:
    """Run a fake request of ``app`` (around ``inner``); the overrides seen before and after
    ``inner``, and those of the handlers running after the response."""
    buffer = new_buffer()
    token = enter_buffer(buffer)
    enter_app(app)
    try:
        seen = [current_dependency_overrides()]
        if inner is not None:
            seen.append(inner())
            seen.append(current_dependency_overrides())
        buffer.take()  # the response is complete: handlers run now
        seen.append(current_dependency_overrides())
        return seen
    finally:
        exit_buffer(token)


def test_handlers_see_their_own_request_app_also_around_a_nested_one() -> None:
    """A mounted app with the middleware has its overrides; the outer one gets its back."""
    outer, inner = App(db="outer db"), App(db="inner db")
    seen = contextvars.copy_context().run(serve, outer, lambda: serve(inner))
    assert seen == [
        {"db": "outer db"},
        [{"db": "inner db"}, {"db": "inner db"}],
        {"db": "outer db"},
        {"db": "outer db"},
    ]


def test_nothing_is_seen_outside_the_request_or_without_overrides() -> None:
    """After the request, in another buffer, or for an app without overrides: None."""

    def run() -> list[Any]:
        seen = serve(App(db="fake"))
        seen.append(current_dependency_overrides())
        seen += serve(App()) + serve(object()) + serve(None)
        token = enter_buffer(new_buffer())
        seen.append(current_dependency_overrides())
        exit_buffer(token)
        return seen

    seen = contextvars.copy_context().run(run)
    assert seen == [{"db": "fake"}, {"db": "fake"}, None, None, None, None, None, None, None, None]


def test_a_context_serving_many_requests_keeps_only_a_few_apps() -> None:
    """A client that serves requests in the caller's task does not grow the context."""

    def run() -> int:
        for n in range(20):
            assert serve(App(n=n)) == [{"n": n}, {"n": n}]
        return len(_context._request_apps.get())

    assert contextvars.copy_context().run(run) == _context._MAX_NESTED_APPS
