"""The request's app and its dependency overrides, as the current buffer's handlers see them."""

from __future__ import annotations

from typing import Any

from fastapi_events._buffer import RequestBuffer
from fastapi_events._context import current_dependency_overrides, enter_buffer, exit_buffer
from fastapi_events._pipeline import EventPipeline


class App:
    """Stands for a FastAPI app: only its ``dependency_overrides`` matter."""

    def __init__(self, **overrides: Any) -> None:
        self.dependency_overrides = overrides


def overrides_in(scope: Any) -> Any:
    buffer = RequestBuffer(EventPipeline((), middleware_id=1), scope)
    token = enter_buffer(buffer)
    try:
        return current_dependency_overrides()
    finally:
        exit_buffer(token)


def test_the_request_apps_overrides_are_seen() -> None:
    """Inside a request of a FastAPI app, its overrides mapping is visible."""
    app = App(db="fake")
    assert overrides_in({"type": "http", "app": app}) is app.dependency_overrides


def test_no_overrides_no_app_no_scope_no_request() -> None:
    """Empty overrides, an app without them, no scope and no buffer all give None."""
    assert overrides_in({"type": "http", "app": App()}) is None
    assert overrides_in({"type": "http", "app": object()}) is None
    assert overrides_in({"type": "http"}) is None
    assert overrides_in(None) is None
    assert current_dependency_overrides() is None


def test_nested_buffers_see_their_own_app() -> None:
    """A buffer entered inside another (a mounted app) sees its app, then the outer one's."""
    outer, inner = App(a=1), App(b=2)
    pipeline = EventPipeline((), middleware_id=1)
    outer_token = enter_buffer(RequestBuffer(pipeline, {"app": outer}))
    try:
        inner_token = enter_buffer(RequestBuffer(pipeline, {"app": inner}))
        assert current_dependency_overrides() is inner.dependency_overrides
        exit_buffer(inner_token)
        assert current_dependency_overrides() is outer.dependency_overrides
    finally:
        exit_buffer(outer_token)
