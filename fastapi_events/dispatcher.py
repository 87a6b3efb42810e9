"""``dispatch()``: record an event for handling after the response."""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

from . import _store
from ._context import EventBuffer, RunningPipeline, current_buffer, current_running_pipeline
from ._env import EnvFlag
from ._event import Event, EventName, normalize_event_name
from ._observers import dispatch_observers, notify_observers
from ._payload import LazyPayload, is_pydantic_model, prepare_payload
from ._redact import capped_repr, describe
from .constants import FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR
from .errors import (
    InvalidEventNameError,
    MissingEventNameDuringDispatch,
    MultiplePayloadsDetectedDuringDispatch,
    OutsideEventScopeError,
)
from .registry.base import BaseEventPayloadSchemaRegistry
from .registry.payload_schema import registry as default_registry

__all__ = ["OUTSIDE_SCOPE_MESSAGE", "dispatch"]

OUTSIDE_SCOPE_MESSAGE = (
    "dispatch() was called outside a request handled by EventHandlerASGIMiddleware. "
    "Pass middleware_id=<the id given to the middleware>, or open a scope with "
    "`async with fastapi_events.event_scope(handlers=[...]):` (background jobs, scripts, tests)"
)

_dispatch_disabled = EnvFlag(FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR, default=False)
#: ``_DISABLE_KEY in _ENVIRON``: the variable is set at all (read at every dispatch).
_ENVIRON, _DISABLE_KEY = _dispatch_disabled.presence()
_new_tuple = tuple.__new__
#: ``default_registry.lookup`` without its Python frame (the mapping it reads, never replaced).
_default_lookup = default_registry._schemas.get


def dispatch(
    event_name_or_model: EventName | Any = None,
    payload: Any = None,
    event_name: EventName | None = None,
    validate_payload: bool = True,
    payload_schema_cls_dict_args: Mapping[str, Any] | None = None,
    payload_schema_registry: BaseEventPayloadSchemaRegistry | None = None,
    middleware_id: int | None = None,
    payload_schema_dump: bool = True,
) -> None:
    """Dispatch an event; its handlers run after the current response is complete.

    Args:
        event_name_or_model: the event name (``str`` or ``Enum``), or a pydantic model
            instance whose class names the event (``__event_name__``).
        payload: the payload; a callable is evaluated after the response (lazy payload).
            No payload is validated as ``{}`` when the name has a schema.
        event_name: the event name for a model; wins over ``__event_name__``.
        validate_payload: validate against the schema registered for the name.
        payload_schema_cls_dict_args: keyword arguments for ``model_dump``.
        payload_schema_registry: the registry to use instead of the default one.
        middleware_id: send to that middleware's handlers (needed outside requests).
        payload_schema_dump: hand handlers a dict (``True``) or the model instance.

    Raises:
        InvalidEventNameError: the name is neither a ``str`` nor an ``Enum``.
        MissingEventNameDuringDispatch: a model without a name.
        MultiplePayloadsDetectedDuringDispatch: a model and a ``payload``.
        pydantic.ValidationError: the payload does not match its registered schema.
        OutsideEventScopeError: outside any request and without ``middleware_id``.

    Example::

        dispatch("user.created", {"id": 1})
    """
    if _DISABLE_KEY in _ENVIRON and _dispatch_disabled():
        return
    if type(event_name_or_model) is str and event_name is None:
        key: str = event_name_or_model
        name: EventName = key
    else:
        name, payload = _name_and_payload(event_name_or_model, payload, event_name)
        key = normalize_event_name(name)
    if (type(payload) is dict or payload is None) and (
        not validate_payload
        or (
            _default_lookup(key)
            if payload_schema_registry is None
            else payload_schema_registry.lookup(key)
        )
        is None
    ):
        pass  # the common case: nothing to validate, dump or evaluate later
    else:
        payload = _prepare(
            key,
            payload,
            payload_schema_registry if validate_payload else None,
            validate_payload,
            payload_schema_dump,
            payload_schema_cls_dict_args,
        )
    buffer = current_buffer(None)
    # Event(name, payload, key, correlation_id=...) without the cost of a Python __new__:
    event: Event = _new_tuple(Event, (name, payload))
    event.key = key
    event._ts = time.time()  # looked up per call: patching time.time still works
    if buffer is not None:
        found = buffer.known_correlation_id  # looked up at the request's first event
        if found is False:
            found = buffer.correlation_id
        if found is not None:
            event.correlation_id = found
    if dispatch_observers and notify_observers(event):
        return
    if buffer is not None and middleware_id is None:
        telemetry = buffer.pipeline.telemetry  # _announce() inlined: the hot path
        if telemetry is not None:
            telemetry.on_dispatch(event)
        if buffer.drained:
            buffer.add(event)
        else:
            buffer.events.append(event)  # buffer.add(), inlined
    else:
        _route(event, buffer, middleware_id)


def _prepare(
    key: str,
    payload: Any,
    registry: BaseEventPayloadSchemaRegistry | None,
    validate: bool,
    dump: bool,
    dump_args: Mapping[str, Any] | None,
) -> Any:
    schema = (registry or default_registry).lookup(key) if validate else None
    if schema is None:
        if type(payload) is dict or payload is None:
            return payload  # the common case: nothing to validate or dump
    elif payload is None:
        payload = {}  # no payload is the empty one: required fields raise ValidationError
    args = dict(dump_args) if dump_args else None
    if callable(payload) and not is_pydantic_model(payload):
        return LazyPayload(payload, schema, dump, args)
    return prepare_payload(payload, schema, dump, args)


def _name_and_payload(first: Any, payload: Any, event_name: EventName | None) -> tuple[Any, Any]:
    if type(first) is str or isinstance(first, (str, Enum)):
        if event_name is not None and event_name != first:
            raise InvalidEventNameError(
                f"two event names given: {capped_repr(first)} and "
                f"event_name={capped_repr(event_name)}; pass one"
            )
        return first, payload
    if first is None:
        if event_name is None:
            raise MissingEventNameDuringDispatch(
                "dispatch() needs an event name: dispatch('user.created', payload)"
            )
        return event_name, payload
    if not is_pydantic_model(first):
        raise InvalidEventNameError(
            f"event name must be a str, an Enum member or a pydantic model instance, "
            f"got {describe(first)}"
        )
    if payload:
        raise MultiplePayloadsDetectedDuringDispatch(
            f"dispatch() got a model ({type(first).__name__}) and a payload= "
            f"({type(payload).__name__}); "
            f"the model is the payload, drop payload="
        )
    name = event_name if event_name is not None else getattr(first, "__event_name__", None)
    if name is None:
        raise MissingEventNameDuringDispatch(
            f"{type(first).__name__} has no event name: pass event_name=... or set "
            f"__event_name__ on the class"
        )
    return name, first


def _route(event: Event, buffer: EventBuffer | None, middleware_id: int | None) -> None:
    if middleware_id is None:
        # A handler of an event submitted outside requests chains: same pipeline.
        running = current_running_pipeline()
        if running is None:
            raise OutsideEventScopeError(OUTSIDE_SCOPE_MESSAGE)
        _announce(running, event)
        running.submit(event)
    elif buffer is not None and buffer.middleware_id == middleware_id:
        _announce(buffer.pipeline, event)
        buffer.add(event)
    else:
        pipeline = _store.lookup(middleware_id)
        _announce(pipeline, event)
        pipeline.submit(event)


def _announce(pipeline: RunningPipeline, event: Event) -> None:
    telemetry = pipeline.telemetry
    if telemetry is not None:
        telemetry.on_dispatch(event)
