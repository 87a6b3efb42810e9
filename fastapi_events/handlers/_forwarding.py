"""The machinery under :class:`~fastapi_events.handlers.forwarder.Forwarder`: one client
per loop, exact accounting of what a send delivered, sends that outlive a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from .._context import current_progress
from .._event import Event
from ._outgoing import Failure, OutgoingMessage, SendResult

__all__ = ["ClientSlot", "checked", "outlive_cancellation", "settle", "sort_failures"]

T = TypeVar("T")


class ClientSlot:
    """Holds one client, connected once under a lock, and the loop it belongs to."""

    def __init__(self, per_loop: bool) -> None:
        self.per_loop = per_loop
        self.client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def current(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The client if there is one usable from ``loop``, else ``None``."""
        if self.client is None or (self.per_loop and self._client_loop is not loop):
            return None
        return self.client

    async def get(self, connect: Callable[[], Awaitable[Any]]) -> Any:
        """The client, connecting first (once, whoever races for it) if there is none."""
        loop = asyncio.get_running_loop()
        client = self.current(loop)
        if client is not None:
            return client
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            if self.current(loop) is None:
                self.client, self._client_loop = await connect(), loop
            return self.client

    def take(self) -> Any:
        """Remove and return the client if it is usable from the running loop (a client
        of another, finished loop is dropped)."""
        client = self.current(asyncio.get_running_loop())
        self.client = None
        return client


def settle(events: Iterable[Event]) -> None:
    """Record that ``events`` are done (delivered, or reported) for the running handler."""
    progress = current_progress()
    if progress is not None:
        for event in events:
            progress.settle(event)


def sort_failures(
    batch: Sequence[OutgoingMessage], failed: Sequence[Failure], error: BaseException | None
) -> tuple[list[Failure], list[OutgoingMessage], BaseException | None]:
    """Split the failures of ``batch`` into permanent ones and messages to retry, with the
    last retryable error (else ``error``). Failures of other messages, and repeats, are
    ignored."""
    in_batch = {id(message) for message in batch}
    permanent: list[Failure] = []
    retry: list[OutgoingMessage] = []
    for failure in failed:
        if id(failure.message) not in in_batch:
            continue
        in_batch.discard(id(failure.message))
        if failure.retryable:
            retry.append(failure.message)
            error = failure.error
        else:
            permanent.append(failure)
    return permanent, retry, error


async def checked(sending: Awaitable[SendResult | None]) -> SendResult:
    """The result of a ``send()``; ``None`` is a batch all delivered."""
    result = await sending
    if result is None:
        return SendResult()
    if not isinstance(result, SendResult):
        raise TypeError(f"send() must return a SendResult or None, got {type(result).__name__}")
    return result


async def outlive_cancellation(
    operation: Awaitable[T], on_late_result: Callable[[T], None], grace: float
) -> T:
    """Await a send already on the wire. If the awaiting task is cancelled meanwhile, wait
    up to ``grace`` seconds for the send's answer and give it to ``on_late_result`` (which
    records what was delivered) before re-raising."""
    future = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait({future}, timeout=grace)
        if future.done() and not future.cancelled() and future.exception() is None:
            on_late_result(future.result())
        else:
            future.add_done_callback(_observe)
        raise


def _observe(future: asyncio.Future[Any]) -> None:
    # Retrieve the outcome of a send nobody awaits any more (no "never retrieved" warning).
    if not future.cancelled():
        future.exception()
