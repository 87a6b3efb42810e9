"""FastAPI-style dependency injection for local handler functions.

Plans are built once per function at registration (signatures, type hints, the
dependency tree); solving a plan per event only calls things. FastAPI stays optional:
a ``Depends`` marker is recognised by its ``dependency`` and ``use_cache`` attributes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any, get_type_hints

from ._context import current_dependency_overrides
from ._event import Event
from .errors import ConfigurationError

__all__ = ["CallPlan", "build_plan", "call_with_dependencies"]

_EVENT = object()  # marks the parameter that receives the event


def _is_depends(value: object) -> bool:
    return hasattr(value, "dependency") and hasattr(value, "use_cache")


def _call_kind(call: Callable[..., Any]) -> str:
    if inspect.isasyncgenfunction(call):
        return "asyncgen"
    if inspect.isgeneratorfunction(call):
        return "gen"
    if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - async callable instances
    ):
        return "async"
    return "sync"


class CallPlan:
    """How to call one function: its kind and, per parameter, the event or a dependency."""

    __slots__ = ("args", "call", "direct", "kind", "kwargs", "override", "simple", "use_cache")

    def __init__(self, call: Callable[..., Any], use_cache: bool = True) -> None:
        self.call = call
        self.kind = _call_kind(call)
        self.use_cache = use_cache
        self.args: list[Any] = []  # positional-only parameters, in order
        self.kwargs: list[tuple[str, Any]] = []  # name -> _EVENT or a CallPlan
        self.simple = False  # True when the only parameter is the event
        self.override: CallPlan | None = None  # the plan of the last override of ``call``
        #: ``simple`` and async: ``await call(event)`` is all there is to do.
        self.direct = False

    def __repr__(self) -> str:
        return f"CallPlan({getattr(self.call, '__qualname__', self.call)!r})"


def _hints(call: Callable[..., Any]) -> dict[str, Any]:
    target: Any = call
    if inspect.isclass(call):
        target = call.__init__
    elif not (inspect.isfunction(call) or inspect.ismethod(call)):
        target = getattr(call, "__call__", call)  # noqa: B004 - callable instances
    try:
        return get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        return dict(getattr(target, "__annotations__", {}))


def _marker(param: inspect.Parameter, hint: Any) -> tuple[Any, Any] | None:
    """Return (Depends marker, the type it annotates) for a dependency parameter."""
    if _is_depends(param.default):
        return param.default, hint
    for meta in getattr(hint, "__metadata__", ()):
        if _is_depends(meta):
            return meta, hint.__origin__
    return None


def build_plan(
    call: Callable[..., Any], *, event_positional: bool, use_cache: bool = True
) -> CallPlan:
    """Build the call plan of ``call``.

    Args:
        event_positional: the first plain parameter receives the event (handlers);
            otherwise only a parameter annotated ``Event`` does (dependencies).

    Raises:
        ConfigurationError: a required parameter is neither the event nor a dependency.
    """
    plan = CallPlan(call, use_cache)
    hints = _hints(call)
    event_taken = False
    positional_event = False
    for param in inspect.signature(call).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(param.name, param.annotation)
        marker = _marker(param, hint)
        if marker is not None:
            value: Any = _dependency_plan(call, param.name, *marker)
        elif hint is Event or (event_positional and not event_taken):
            value, event_taken = _EVENT, True
            positional_event = param.kind is not param.KEYWORD_ONLY
        elif param.default is not param.empty:
            continue
        else:
            raise ConfigurationError(
                f"parameter {param.name!r} of {getattr(call, '__qualname__', call)!r} is "
                f"neither the event nor a dependency: give it a default or "
                f"`= Depends(provider)`"
            )
        if param.kind is param.POSITIONAL_ONLY:
            plan.args.append(value)
        else:
            plan.kwargs.append((param.name, value))
    plan.simple = positional_event and len(plan.args) + len(plan.kwargs) == 1
    plan.direct = plan.simple and plan.kind == "async"
    return plan


def _dependency_plan(owner: Callable[..., Any], name: str, marker: Any, hint: Any) -> CallPlan:
    provider = marker.dependency if marker.dependency is not None else hint
    if not callable(provider) or provider is inspect.Parameter.empty:
        raise ConfigurationError(
            f"parameter {name!r} of {getattr(owner, '__qualname__', owner)!r} uses Depends() "
            f"without a callable: pass Depends(provider) or annotate it with a class"
        )
    return build_plan(provider, event_positional=False, use_cache=bool(marker.use_cache))


#: A dependency -> its override (FastAPI's ``app.dependency_overrides``), or ``None``.
_Overrides = Mapping[Any, Any] | None


async def _solve(
    plan: CallPlan, event: Event, cache: dict[Any, Any], stack: AsyncExitStack, ov: _Overrides
) -> tuple[list[Any], dict[str, Any]]:
    args = [event if v is _EVENT else await _resolve(v, event, cache, stack, ov) for v in plan.args]
    kwargs = {
        name: event if v is _EVENT else await _resolve(v, event, cache, stack, ov)
        for name, v in plan.kwargs
    }
    return args, kwargs


def _overridden(plan: CallPlan, overrides: Mapping[Any, Any]) -> CallPlan:
    """The plan of the override of ``plan.call`` (built once per override), or ``plan``."""
    override = overrides.get(plan.call, plan.call)
    if override is plan.call:
        return plan
    cached = plan.override
    if cached is None or cached.call is not override:
        cached = plan.override = build_plan(
            override, event_positional=False, use_cache=plan.use_cache
        )
    return cached


async def _resolve(
    plan: CallPlan, event: Event, cache: dict[Any, Any], stack: AsyncExitStack, ov: _Overrides
) -> Any:
    if ov is not None:
        plan = _overridden(plan, ov)
    if plan.use_cache and plan.call in cache:
        return cache[plan.call]
    args, kwargs = await _solve(plan, event, cache, stack, ov)
    value = await _invoke(plan, args, kwargs, stack)
    if plan.use_cache:
        cache[plan.call] = value
    return value


async def _invoke(
    plan: CallPlan, args: list[Any], kwargs: dict[str, Any], stack: AsyncExitStack
) -> Any:
    kind = plan.kind
    if kind == "async":
        return await plan.call(*args, **kwargs)
    if kind == "sync":
        return await asyncio.to_thread(plan.call, *args, **kwargs)
    if kind == "asyncgen":
        return await stack.enter_async_context(asynccontextmanager(plan.call)(*args, **kwargs))
    manager = contextmanager(plan.call)(*args, **kwargs)
    value = await asyncio.to_thread(manager.__enter__)

    async def exit_in_thread(*exc_info: Any) -> bool | None:
        return await asyncio.to_thread(manager.__exit__, *exc_info)

    stack.push_async_exit(exit_in_thread)
    return value


async def call_with_dependencies(plan: CallPlan, event: Event) -> Any:
    """Call a handler's plan for ``event``; ``yield`` dependencies are closed afterwards.

    The ``dependency_overrides`` of the current request's FastAPI app apply, as in FastAPI:
    a dependency (at any depth) found there is replaced by its override, whose own
    dependencies are solved in turn.
    """
    if plan.simple:
        if plan.kind == "async":
            return await plan.call(event)
        return await asyncio.to_thread(plan.call, event)
    async with AsyncExitStack() as stack:
        overrides = current_dependency_overrides()
        args, kwargs = await _solve(plan, event, {}, stack, overrides)
        return await _invoke(plan, args, kwargs, stack)
