"""Payloads computed after the response: ``dispatch("x", lambda: expensive())`` (upstream #62)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ._payload import prepare_payload
from ._reporting import report_failure

__all__ = ["LazyPayload", "has_lazy_payloads", "resolve_lazy_payloads"]


class LazyPayload:
    """A callable payload and how to validate its result once it is called."""

    __slots__ = ("dump", "dump_args", "factory", "schema")

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

    async def evaluate(self) -> Any:
        """Call the factory (awaiting an awaitable result) and validate the value."""
        value = self.factory()
        if inspect.isawaitable(value):
            value = await value
        return prepare_payload(value, self.schema, self.dump, self.dump_args)


def has_lazy_payloads(events: list[Any]) -> bool:
    """True if any event still has a lazy payload (checked without a coroutine)."""
    for event in events:  # noqa: SIM110 - a loop is cheaper than any() and its generator
        if type(event.payload) is LazyPayload:
            return True
    return False


async def resolve_lazy_payloads(events: list[Any]) -> list[Any]:
    """Evaluate the lazy payloads among ``events``; drop (and report) those that fail."""
    resolved = []
    for event in events:
        lazy = event.payload
        if type(lazy) is LazyPayload:
            try:
                event.payload = await lazy.evaluate()
            except Exception as exc:
                report_failure(
                    event, lazy.factory, exc, message="lazy payload %s failed for event %s (id %s)"
                )
                continue
        resolved.append(event)
    return resolved
