"""What the consumer tests share: scripted handlers, waiting for a condition, sending."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.serialization import MessageFormat
from tests.servers.sqs import REGION, SQSQueue

#: A safety net for waits, never an assertion on how long something took.
PATIENCE = 15.0


class Calls:
    """Every call of a scripted handler function, and what it finished."""

    def __init__(self) -> None:
        self.started: list[Event] = []
        self.finished: list[Event] = []

    def count(self, event_id: str) -> int:
        """How many times the function was called for ``event_id``."""
        return sum(1 for event in self.started if event.id == event_id)

    @property
    def finished_ids(self) -> Counter[str]:
        return Counter(event.id for event in self.finished)


def scripted(
    failures: int | Callable[[Event], int] = 0,
    *,
    pattern: str = "*",
    gate: asyncio.Event | None = None,
    delay: float = 0.0,
) -> tuple[LocalHandler, Calls]:
    """A local handler whose function fails the first ``failures`` calls for each event
    (a number, or a function of the event), waits for ``gate`` / ``delay`` first."""
    handler, calls = LocalHandler(), Calls()

    @handler.register(event_name=pattern)
    async def work(event: Event) -> None:
        calls.started.append(event)
        if gate is not None:
            await gate.wait()
        if delay:
            await asyncio.sleep(delay)
        allowed = failures(event) if callable(failures) else failures
        if calls.count(event.id) <= allowed:
            raise RuntimeError(f"scripted failure {calls.count(event.id)}")
        calls.finished.append(event)

    return handler, calls


async def until(predicate: Callable[[], bool], what: str = "the condition") -> None:
    """Wait until ``predicate()`` holds (failing after a generous safety net)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen")
        await asyncio.sleep(0.02)


async def forward(
    queue: SQSQueue, events: Iterable[Event], serializer: MessageFormat | None = None
) -> None:
    """Send ``events`` to ``queue`` with the SQS forwarder (one scope, one batch)."""
    forwarder = SQSForwardHandler(
        queue.url, REGION, serializer=serializer, endpoint_url=queue.endpoint
    )
    failures: list[Any] = []
    async with event_scope(handlers=[forwarder], on_error=lambda *f: failures.append(f)) as buf:
        for event in events:
            buf.add(event)
    await forwarder.aclose()
    assert failures == []


def counts(queue: SQSQueue) -> tuple[int, int]:
    """(visible, in flight) messages of ``queue``, as SQS counts them."""
    attributes = queue.client.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )
