"""Payloads: validation and dumping against a pydantic schema, and lazy payloads computed
after the response (``dispatch("x", lambda: expensive())``, upstream #62)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from ._event import Event, with_payload
from ._reporting import report_failure

__all__ = [
    "LazyPayload",
    "has_lazy_payloads",
    "is_pydantic_model",
    "prepare_payload",
    "resolve_lazy_payloads",
    "settled",
]


def is_pydantic_model(value: object) -> bool:
    """True for an instance of a pydantic v2 model (duck-typed: pydantic stays unimported)."""
    return hasattr(type(value), "model_dump") and hasattr(type(value), "model_fields")


def prepare_payload(payload: Any, schema: Any, dump: bool, dump_args: dict[str, Any] | None) -> Any:
    """Validate ``payload`` against ``schema`` (if any) and dump models to dicts if ``dump``.

    The whole model is dumped unless ``dump_args`` says otherwise (0.12 used
    ``exclude_unset=True``, so fields left at their defaults vanished).
    """
    if schema is not None and not isinstance(payload, schema):
        payload = schema.model_validate(payload)
    if dump and is_pydantic_model(payload):
        return payload.model_dump(**(dump_args or {}))
    return payload


class LazyPayload:
    """A callable payload and how to validate its result once it is called.

    ``resolved`` is the event handlers received, with the value, once it is evaluated:
    an :class:`Event` is a tuple, so its payload is never replaced in place.
    """

    __slots__ = ("dump", "dump_args", "factory", "resolved", "schema")

    #: Set at the first lazy payload in the process: until then no batch is scanned for one.
    made_any: ClassVar[bool] = False

    def __init__(
        self,
        factory: Callable[[], Any],
        schema: Any,
        dump: bool,
        dump_args: dict[str, Any] | None,
    ) -> None:
        self.factory = factory
        self.schema = schema
        self.dump = dump
        self.dump_args = dump_args
        self.resolved: Event | None = None
        LazyPayload.made_any = True

    async def evaluate(self) -> Any:
        """Call the factory (awaiting an awaitable result) and validate the value."""
        value = self.factory()
        if inspect.isawaitable(value):
            value = await value
        return prepare_payload(value, self.schema, self.dump, self.dump_args)


def has_lazy_payloads(events: list[Any]) -> bool:
    """True if any event still has a lazy payload (checked without a coroutine; callers on
    a hot path test :attr:`LazyPayload.made_any` first)."""
    for event in events:  # noqa: SIM110 - a loop is cheaper than any() and its generator
        if type(event[1]) is LazyPayload:
            return True
    return False


async def resolve_lazy_payloads(events: list[Event]) -> list[Event]:
    """``events`` with each lazy payload evaluated (once); drop (and report) those that fail.

    An evaluated event is a new :class:`Event` with the value and the original's metadata.
    """
    resolved = []
    for event in events:
        lazy = event[1]
        if type(lazy) is LazyPayload:
            if lazy.resolved is None:
                try:
                    value = await lazy.evaluate()
                except Exception as exc:
                    report_failure(
                        event,
                        lazy.factory,
                        exc,
                        message="lazy payload %s failed for event %s (id %s)",
                    )
                    continue
                lazy.resolved = with_payload(event, value)
            event = lazy.resolved
        resolved.append(event)
    return resolved


def settled(event: Event) -> Event:
    """The event handlers received for ``event`` once its lazy payload is evaluated, else
    ``event`` itself."""
    lazy = event[1]
    if type(lazy) is LazyPayload and lazy.resolved is not None:
        return lazy.resolved
    return event
