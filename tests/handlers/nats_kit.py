"""Helpers of the NATSForwardHandler tests: forwarding in one scope, spies on encode() and
send() (the ``nats_handler`` fixture is in tests/servers/nats_server.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.forwarder import RetryPolicy
from fastapi_events.handlers.nats import NATSForwardHandler

__all__ = ["FAST", "Failure", "MakeHandler", "count_sends", "forward", "spy"]

Failure = tuple[Event, object, BaseException]
MakeHandler = Callable[..., NATSForwardHandler]
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)


async def forward(handler: NATSForwardHandler, events: list[tuple[str, Any]]) -> list[Failure]:
    """Dispatch ``events`` in one scope (one batch); return what reached the error hook."""
    failures: list[Failure] = []
    async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
        for name, payload in events:
            dispatch(name, payload)
    return failures


def spy(encode: Any, seen: list[Event]) -> Any:
    def spying(event: Event) -> Any:
        seen.append(event)
        return encode(event)

    return spying


def count_sends(send: Any, sends: list[int]) -> Any:
    async def counted(client: Any, destination: str, batch: Any) -> Any:
        sends.append(len(batch))
        return await send(client, destination, batch)

    return counted
