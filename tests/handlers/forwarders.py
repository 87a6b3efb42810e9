"""A scripted in-memory forwarder for tests of the public Forwarder base."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.forwarder import Forwarder, OutgoingMessage, SendResult

#: What one send does: raise this exception, or return what the function gives.
Outcome = BaseException | Callable[[Sequence[OutgoingMessage]], Any]
Failure = tuple[Event, object, BaseException]


class MemoryForwarder(Forwarder):
    """Records every send; ``outcomes`` script the sends one by one (then: all delivered)."""

    messaging_system = "memory"

    def __init__(self, destination: Any = "box", **options: Any) -> None:
        super().__init__(destination, **options)
        self.outcomes: list[Outcome] = []
        self.sent: list[tuple[str, list[Any]]] = []
        self.delivered: list[tuple[str, Any]] = []
        self.connects = 0
        self.disconnected: list[object] = []
        self.connect_error: BaseException | None = None
        self.ping_error: BaseException | None = None

    async def connect(self) -> object:
        self.connects += 1
        await asyncio.sleep(0)  # let racing callers pile up on the lock
        if self.connect_error is not None:
            raise self.connect_error
        return object()

    async def disconnect(self, client: object) -> None:
        self.disconnected.append(client)

    async def ping(self, client: object) -> None:
        if self.ping_error is not None:
            raise self.ping_error

    async def send(
        self, client: object, destination: str, batch: Sequence[OutgoingMessage]
    ) -> SendResult | None:
        self.sent.append((destination, [m.event.payload for m in batch]))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        result = outcome(batch) if outcome is not None else None
        if isinstance(result, Awaitable):
            result = await result
        failed = {id(f.message) for f in result.failed} if isinstance(result, SendResult) else ()
        self.delivered += [(destination, m.event.payload) for m in batch if id(m) not in failed]
        return result


async def forward(handler: Forwarder, events: Iterable[tuple[str, Any]]) -> list[Failure]:
    """Dispatch ``events`` in one scope (one batch); return what reached the error hook."""
    failures: list[Failure] = []
    async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
        for name, payload in events:
            dispatch(name, payload)
    return failures
