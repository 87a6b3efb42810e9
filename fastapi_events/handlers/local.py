"""Handlers as plain functions in the same process, chosen by fnmatch pattern."""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from .._context import current_progress, current_running_pipeline, current_telemetry
from .._di import CallPlan, build_plan, call_with_dependencies
from .._event import Event, EventName, normalize_event_name
from .._progress import Progress
from .._redact import capped_repr
from .._reporting import must_propagate, report_failure
from ..errors import ConfigurationError
from ._batching import RetryPolicy
from ._guard import Guard, dead_letter_or_report
from .base import BaseEventHandler

__all__ = ["LocalHandler", "local_handler"]

F = TypeVar("F", bound=Callable[..., Any])

_MAX_CACHED_NAMES = 2048
# Longer names are matched every time, not cached: the cache holds at most
# _MAX_CACHED_NAMES * _MAX_CACHED_NAME_LENGTH characters (~512k), whatever is dispatched.
_MAX_CACHED_NAME_LENGTH = 256


def _compile(pattern: str) -> Callable[[str], bool]:
    if not any(char in pattern for char in "*?["):
        return pattern.__eq__
    regex = re.compile(fnmatch.translate(pattern))
    return lambda name: regex.match(name) is not None


class LocalHandler(BaseEventHandler):
    """Runs registered functions for the events whose names match their patterns.

    Patterns use :mod:`fnmatch` syntax, case-sensitively (``"user.*"``, ``"*"``). An Enum
    name or pattern stands for its value. For one event, functions run one after another
    in registration order, each in its own error boundary. Sync functions run in a worker
    thread with a copy of the request's context. Functions may take FastAPI-style
    dependencies (``Depends``).

    Example::

        @local_handler.register(event_name="user.*")
        async def on_user_event(event: Event, db=Depends(get_db)) -> None:
            name, payload = event
    """

    def __init__(self) -> None:
        self._registrations: list[tuple[str, Callable[[str], bool], CallPlan]] = []
        self._matches: dict[str, tuple[CallPlan, ...]] = {}
        self._guards: dict[int, Guard] = {}  # id(plan) -> its retries and concurrency limit

    @overload
    def register(
        self,
        _func: F,
        event_name: EventName = "*",
        *,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
    ) -> F: ...

    @overload
    def register(
        self,
        _func: None = None,
        event_name: EventName = "*",
        *,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        _func: Any = None,
        event_name: EventName = "*",
        *,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
    ) -> Any:
        """Register a function for the events matching ``event_name`` (default: all).

        Works bare (``@local_handler.register``) and with arguments; returns the
        function unchanged, so registrations stack.

        Args:
            event_name: an fnmatch pattern, a name or an Enum (default: every event).
            retry: call the function again when it fails (only it, never the functions
                that already succeeded), with backoff; after the last attempt the event goes
                to the middleware's ``dead_letter`` handler and to ``on_error``.
            max_concurrency: at most this many calls of the function at once, across
                requests.

        .. versionadded:: 1.0
           ``retry`` and ``max_concurrency``.

        Raises:
            ConfigurationError: the object is not callable or has parameters that are
                neither the event nor dependencies.
            InvalidEventNameError: ``event_name`` is neither a ``str`` nor an ``Enum``.
        """
        pattern = normalize_event_name(event_name)
        guarded = retry is not None or max_concurrency is not None
        guard = Guard(retry, max_concurrency) if guarded else None

        def decorate(func: F) -> F:
            self._add(pattern, func, guard)
            return func

        return decorate if _func is None else decorate(_func)

    def _add(self, pattern: str, func: Callable[..., Any], guard: Guard | None = None) -> None:
        if not callable(func):
            raise ConfigurationError(
                f"only callables can be registered as handlers, got {capped_repr(func)} "
                f"({type(func).__name__}); decorate a function with @register"
            )
        plan = build_plan(func, event_positional=True)
        if plan.kind not in ("async", "sync"):
            raise ConfigurationError(
                f"handler {capped_repr(func)} is a generator; handlers must be plain or "
                "async functions"
            )
        self._registrations.append((pattern, _compile(pattern), plan))
        if guard is not None:
            self._guards[id(plan)] = guard
        self._matches.clear()

    def registrations(self) -> tuple[tuple[str, Callable[..., Any]], ...]:
        """Every ``(pattern, function)`` registered, in registration order (read-only; the
        pattern as matched: an Enum's value).

        .. versionadded:: 1.0
        """
        return tuple((pattern, plan.call) for pattern, _, plan in self._registrations)

    def unregister_all(self) -> None:
        """Remove every registration (for test isolation).

        .. versionadded:: 1.0
        """
        self._registrations.clear()
        self._matches.clear()
        self._guards.clear()

    def snapshot(self) -> tuple[object, ...]:
        """The current registrations, to give back to :meth:`restore` (test isolation).

        .. versionadded:: 1.0
        """
        return tuple(self._registrations)

    def restore(self, snapshot: tuple[object, ...]) -> None:
        """Make the registrations what they were at :meth:`snapshot`.

        .. versionadded:: 1.0
        """
        self._registrations[:] = snapshot  # type: ignore[assignment]
        self._matches.clear()
        live = {id(plan) for _, _, plan in self._registrations}
        self._guards = {key: guard for key, guard in self._guards.items() if key in live}

    def matching(self, name: str) -> tuple[CallPlan, ...]:
        """The plans registered for a normalised event name, in registration order; cached
        for names of up to 256 characters."""
        try:
            return self._matches[name]
        except KeyError:
            pass
        plans = tuple(plan for _, matches, plan in self._registrations if matches(name))
        if len(name) > _MAX_CACHED_NAME_LENGTH:
            return plans
        if len(self._matches) >= _MAX_CACHED_NAMES:
            self._matches.clear()
        self._matches[name] = plans
        return plans

    async def handle(self, event: Event) -> None:
        """Run every function matching ``event``; a failing one never stops the next.

        Inside a pipeline, the functions that already finished with ``event`` (before the
        drain was interrupted and moved to the background) are not run again.
        """
        await self._handle(event, current_telemetry(), current_progress())

    async def _handle(self, event: Event, telemetry: Any, progress: Progress | None) -> None:
        plans = self.matching(event.key)
        many = len(plans) > 1  # steps are counted only where there is a next function
        if progress is not None and many:
            plans = plans[progress.steps_done(event) :]
        guards = self._guards
        for plan in plans:
            guard = guards.get(id(plan)) if guards else None
            try:
                if guard is not None:
                    await guard.run(functools.partial(self._call, plan, event, telemetry))
                elif telemetry is not None:
                    with telemetry.handler_span(event, plan.call):
                        await _call(plan, event)
                elif plan.direct:
                    await plan.call(event)  # the common case, without the DI machinery
                else:
                    await call_with_dependencies(plan, event)
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                if guard is None:
                    report_failure(event, plan.call, exc)
                else:
                    await dead_letter_or_report(event, plan.call, exc, guard)
            if progress is not None and many:
                progress.step(event)
        if progress is not None:
            progress.settle(event)

    @staticmethod
    async def _call(plan: CallPlan, event: Event, telemetry: Any) -> None:
        if telemetry is not None:
            with telemetry.handler_span(event, plan.call):
                await _call(plan, event)
        else:
            await _call(plan, event)

    async def handle_many(self, events: Sequence[Event]) -> None:
        """Handle ``events`` in dispatch order (``handle`` isolates each function itself)."""
        if self.concurrent:
            await asyncio.gather(*[self.handle(event) for event in events])
            return
        running, progress = current_running_pipeline(), current_progress()
        telemetry = None if running is None else running.telemetry  # current_telemetry()
        if telemetry is not None or self._guards:
            for event in events:
                await self._handle(event, telemetry, progress)
            return
        mark = None if progress is None else progress.marker()
        if progress is not None and mark is None:  # settling does more (a spool marks it)
            for event in events:
                await self._handle(event, None, progress)
            return
        cached, matching = self._matches.get, self.matching
        for event in events:  # _handle(), inlined for one plain async function per event
            plans = cached(event.key)
            if plans is None:
                plans = matching(event.key)
            if len(plans) != 1 or not plans[0].direct:
                await self._handle(event, None, progress)
                continue
            call = plans[0].call
            try:
                await call(event)
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                report_failure(event, call, exc)
            if mark is not None:
                mark(id(event))


async def _call(plan: CallPlan, event: Event) -> None:
    if plan.direct:
        await plan.call(event)
    else:
        await call_with_dependencies(plan, event)


#: The module's default handler: ``@local_handler.register(event_name="...")``.
local_handler = LocalHandler()
