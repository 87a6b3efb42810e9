"""Dispatch events anywhere in a request; handle them after the response.

Example::

    from fastapi import FastAPI
    from fastapi_events.dispatcher import dispatch
    from fastapi_events.handlers.local import local_handler
    from fastapi_events.middleware import EventHandlerASGIMiddleware

    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[local_handler])

    @local_handler.register(event_name="user.*")
    async def on_user_event(event):
        name, payload = event
"""

from __future__ import annotations

from ._context import DerivedContextVar, event_store
from ._event import Event
from ._store import HandlerStoreView
from ._version import __version__
from .dispatcher import dispatch
from .handlers.base import BaseEventHandler
from .middleware import EventHandlerASGIMiddleware
from .scope import event_scope, wait_for_pending

__all__ = [
    "BaseEventHandler",
    "Event",
    "EventHandlerASGIMiddleware",
    "__version__",
    "dispatch",
    "event_scope",
    "event_store",
    "handler_store",
    "in_req_res_cycle",
    "middleware_identifier",
    "wait_for_pending",
]


#: Read-only ``middleware id -> handlers`` (0.12 name).
handler_store = HandlerStoreView()
#: Read-only: ``True`` inside a request whose events are not drained yet (0.12 name).
in_req_res_cycle = DerivedContextVar("fastapi_events.in_req_res_cycle", "in_request")
#: Read-only: the id of the middleware serving the current request (0.12 name).
middleware_identifier = DerivedContextVar("fastapi_events.middleware_identifier", "middleware_id")
