"""Finding the handlers: an app (before or after it starts), a middleware, an id, a list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from litestar import Litestar
from litestar.middleware import DefineMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware

from fastapi_events.catalogue._sources import handlers_in_app, handlers_of
from fastapi_events.contrib.litestar import EventsPlugin
from fastapi_events.errors import ConfigurationError, UnknownMiddlewareIdError
from fastapi_events.handlers.echo import EchoHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.handlers.forwarders import MemoryForwarder

pytestmark = pytest.mark.anyio


def handlers() -> list[Any]:
    """A local handler and a forwarder."""
    return [LocalHandler(), MemoryForwarder("box")]


def test_fastapi_app_before_its_first_request_is_read_from_its_definition() -> None:
    """add_middleware's arguments give the handlers before the stack is built."""
    app, chosen = FastAPI(), handlers()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=chosen)
    assert app.middleware_stack is None
    assert handlers_of(app) == tuple(chosen)


async def test_fastapi_app_after_its_first_request_is_read_from_its_middleware() -> None:
    """Once built, the middleware instance in the stack is found (through ASGI wrappers)."""
    app, chosen = FastAPI(), handlers()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=chosen, middleware_id=7)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        await c.get("/")
    assert app.middleware_stack is not None
    assert handlers_of(app) == tuple(chosen)
    assert handlers_of(7) == tuple(chosen)


def test_starlette_app_and_a_wrapping_middleware() -> None:
    """Middleware(...) in a Starlette app, and an app wrapped in the middleware itself."""
    chosen = handlers()
    app = Starlette(middleware=[Middleware(EventHandlerASGIMiddleware, handlers=chosen)])
    assert handlers_of(app) == tuple(chosen)
    wrapped = EventHandlerASGIMiddleware(Starlette(), handlers=chosen)
    assert handlers_of(wrapped) == tuple(chosen)
    assert handlers_of(wrapped.pipeline) == tuple(chosen)


def test_litestar_plugin_and_define_middleware() -> None:
    """Litestar's EventsPlugin (by its middleware_id) and DefineMiddleware are found."""
    chosen = handlers()
    app = Litestar(route_handlers=[], plugins=[EventsPlugin(handlers=chosen)])
    assert handlers_of(app) == tuple(chosen)
    defined = Litestar(
        route_handlers=[],
        middleware=[DefineMiddleware(EventHandlerASGIMiddleware, handlers=chosen)],
    )
    assert handlers_of(defined) == tuple(chosen)


def test_a_list_of_handlers_and_one_handler() -> None:
    """Handlers given directly are used as they are, each once."""
    echo = EchoHandler()
    assert handlers_of([echo, echo]) == (echo,)
    assert handlers_of(echo) == (echo,)


def test_none_is_the_serving_app_else_every_middleware() -> None:
    """source=None: the app of the request if it has the middleware, else all of them."""
    first, second = handlers(), [EchoHandler()]
    # Kept referenced: the store holds middlewares weakly, and a collected one is gone.
    alive = [
        EventHandlerASGIMiddleware(Starlette(), handlers=first),
        EventHandlerASGIMiddleware(Starlette(), handlers=second),
    ]
    app = Starlette(middleware=[Middleware(EventHandlerASGIMiddleware, handlers=second)])
    assert handlers_of(None, app) == tuple(second)
    assert handlers_of(None, Starlette()) == (*first, *second)
    assert handlers_of(None) == (*first, *second)
    assert len(alive) == 2


def test_unknown_middleware_id_is_an_error_naming_it() -> None:
    """An id no middleware has raises UnknownMiddlewareIdError."""
    with pytest.raises(UnknownMiddlewareIdError, match="middleware_id=404"):
        handlers_of(404)


def test_an_object_without_the_middleware_is_an_error_saying_what_to_pass() -> None:
    """An app without the middleware, or anything else, raises naming its type."""
    with pytest.raises(
        ConfigurationError, match="found no EventHandlerASGIMiddleware in a value of type Starlette"
    ):
        handlers_of(Starlette())
    with pytest.raises(ConfigurationError, match="of type str: pass the app"):
        handlers_of("app")
    assert handlers_in_app(FastAPI()) is None


def test_handlers_given_as_an_iterator_are_not_used_up() -> None:
    """A generator in add_middleware's arguments is refused, never consumed."""
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=iter(handlers()))
    with pytest.raises(ConfigurationError, match="iterator"):
        handlers_of(app)
