"""The receive loop with several receives in flight, through an in-memory consumer: they
never ask for more than ``concurrency`` together, and every message is settled once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from fastapi_events.consumers import Consumer, Delivery
from tests.consumers.kit import scripted, until

pytestmark = pytest.mark.anyio


class Receives:
    """What the receives asked for: the open ones' room, and the most open at once."""

    def __init__(self) -> None:
        self.open: list[int] = []
        self.most_open = 0
        self.most_asked = 0


class MemoryConsumer(Consumer):
    """Serves ``count`` messages; each receive waits for ``gate`` and records itself."""

    receive_batch = 2

    def __init__(self, count: int, gate: asyncio.Event, **options: Any) -> None:
        super().__init__(**options)
        self.pending = [
            Delivery(json.dumps(["order.paid", {"order": i}]).encode(), f"m-{i}")
            for i in range(count)
        ]
        self.gate = gate
        self.receives = Receives()
        self.acked: Counter[str] = Counter()

    async def receive(self, max_messages: int) -> list[Delivery]:
        receives = self.receives
        receives.open.append(max_messages)
        receives.most_open = max(receives.most_open, len(receives.open))
        receives.most_asked = max(receives.most_asked, sum(receives.open))
        try:
            await self.gate.wait()
            await asyncio.sleep(0.001)
            taken, self.pending = self.pending[:max_messages], self.pending[max_messages:]
            return taken
        finally:
            receives.open.remove(max_messages)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.acked.update(delivery.message_id for delivery in deliveries)

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        raise AssertionError("nothing fails here")

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        raise AssertionError("nothing is given back here")


async def test_receives_in_flight_share_the_room_and_settle_each_message_once() -> None:
    """Three receives of at most 2 with concurrency 5 ask for 2 + 2 + 1: never more than
    the room; 20 messages are each handled and acknowledged exactly once."""
    gate = asyncio.Event()
    handler, calls = scripted()
    consumer = MemoryConsumer(20, gate, handlers=[handler], concurrency=5)
    consumer.receives_in_flight = 3
    async with consumer:
        await until(lambda: len(consumer.receives.open) == 3)
        assert sorted(consumer.receives.open) == [1, 2, 2]
        gate.set()
        await until(lambda: sum(consumer.acked.values()) == 20)
    assert consumer.receives.most_open == 3
    assert consumer.receives.most_asked <= 5
    assert consumer.acked == Counter(f"m-{i}" for i in range(20))
    assert sorted(e.payload["order"] for e in calls.finished) == list(range(20))


async def test_one_receive_in_flight_by_default() -> None:
    """A consumer that says nothing keeps one receive open, asking for all the room its
    batch allows."""
    gate = asyncio.Event()
    handler, _ = scripted()
    consumer = MemoryConsumer(4, gate, handlers=[handler], concurrency=5)
    async with consumer:
        await until(lambda: consumer.receives.open)
        await asyncio.sleep(0.05)  # a second receive would have opened by now
        assert consumer.receives.open == [2]
        gate.set()
        await until(lambda: sum(consumer.acked.values()) == 4)
    assert consumer.receives.most_open == 1


class BatchConsumer(Consumer):
    """Serves ``count`` messages in one receive; records what was acknowledged and given
    back; ``received`` is set once that receive returned."""

    wait_for_open_receive = False  # the next receive never returns: stop cancels it

    def __init__(self, count: int, **options: Any) -> None:
        super().__init__(**options)
        self.pending = [
            Delivery(json.dumps(["order.paid", {"order": i}]).encode(), f"m-{i}")
            for i in range(count)
        ]
        self.received = asyncio.Event()
        self.settled: Counter[str] = Counter()

    async def receive(self, max_messages: int) -> list[Delivery]:
        if not self.pending:
            await asyncio.Event().wait()  # nothing more: wait to be given up on
        taken, self.pending = self.pending[:max_messages], self.pending[max_messages:]
        self.received.set()
        return taken

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.settled.update(delivery.message_id for delivery in deliveries)

    async def retry(self, retries: Sequence[tuple[Delivery, float]]) -> None:
        raise AssertionError("nothing fails here")

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        self.settled.update(delivery.message_id for delivery in deliveries)


async def test_the_messages_of_one_batch_whose_handler_waits_are_handled_at_once() -> None:
    """One receive of 5 messages, a handler that waits: all 5 are in the handler at the
    same time (the batch's task hands the rest over when one waits)."""
    gate = asyncio.Event()
    handler, calls = scripted(gate=gate)
    consumer = BatchConsumer(5, handlers=[handler], concurrency=5)
    async with consumer:
        await until(lambda: len(calls.started) == 5)
        assert calls.finished == []
        gate.set()
        await until(lambda: sum(consumer.settled.values()) == 5)
    assert consumer.settled == Counter(f"m-{i}" for i in range(5))
    assert consumer.stats.succeeded == 5


async def test_each_message_is_handled_in_a_context_and_a_task_of_its_own() -> None:
    """A ContextVar a handler sets is not seen by the next message of the batch; a
    message that waits resumes in the task it started in, another than the others'."""
    import contextvars

    mark: contextvars.ContextVar[str | None] = contextvars.ContextVar("mark", default=None)
    seen: list[str | None] = []
    tasks: dict[int, set[int]] = {}
    handler, _ = scripted()

    @handler.register(event_name="*")
    async def record(event: Any) -> None:
        seen.append(mark.get())
        mark.set(event.id)
        order = event.payload["order"]
        tasks[order] = {id(asyncio.current_task())}
        if order % 2:
            await asyncio.sleep(0)
            tasks[order].add(id(asyncio.current_task()))

    consumer = BatchConsumer(6, handlers=[handler], concurrency=6)
    async with consumer:
        await until(lambda: sum(consumer.settled.values()) == 6)
    assert seen == [None] * 6
    assert all(len(ids) == 1 for ids in tasks.values())
    waiting = [next(iter(tasks[order])) for order in (1, 3, 5)]
    assert len(set(waiting)) == 3


@pytest.mark.parametrize("wait", [False, True])
async def test_a_stop_right_after_a_receive_settles_every_message_once(wait: bool) -> None:
    """stop(0) as soon as a batch arrived: each message received is acknowledged or given
    back exactly once, whether its handling started or not."""
    handler, _ = scripted(gate=asyncio.Event() if wait else None)
    consumer = BatchConsumer(8, handlers=[handler], concurrency=8)
    await consumer.start()
    await consumer.received.wait()
    await consumer.stop(0)
    stats = consumer.stats
    assert stats.received == 8
    assert consumer.settled == Counter(f"m-{i}" for i in range(8))
    assert stats.succeeded + stats.released == 8
