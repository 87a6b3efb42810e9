"""SQSForwardHandler and the queue's own size limit (MaximumMessageSize), against moto.

Two defences keep one oversize event from sinking its batch: the limit read from the
queue when the client is created, and halving a batch SQS rejects whole.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import RetryPolicy, SQSDeliveryError, SQSForwardHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.serialization import SerializationError, decode
from tests.servers.sqs import REGION, FaultyProxy, SQSQueue

pytestmark = pytest.mark.anyio

MakeHandler = Callable[..., SQSForwardHandler]
OLD_LIMIT = "262144"  # the 256 KiB limit of queues created before 2025
BIG = "x" * 300 * 1024
#: SendMessageBatch sizes when the 5th of 10 entries makes SQS reject every part holding it:
#: [0-9] ✗, [0-4] ✗, [0-1] ✓, [2-4] ✗, [2] ✓, [3-4] ✗, [3] ✓, [4] ✗, [5-9] ✓.
SPLIT_SENDS = [10, 5, 2, 3, 1, 2, 1, 1, 5]


@dataclass
class Outcome:
    """What became of the events of one scope: dispatched, received and reported (by id)."""

    dispatched: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    failures: list[tuple[Event, BaseException]] = field(default_factory=list)

    @property
    def reported(self) -> list[str]:
        return [event.id for event, _ in self.failures]


@pytest.fixture
async def make_handler() -> AsyncIterator[MakeHandler]:
    """Build handlers (through the recording proxy) and aclose() them at the test's end."""
    made: list[SQSForwardHandler] = []

    def make(queue: SQSQueue, proxy: FaultyProxy, **options: Any) -> SQSForwardHandler:
        retry = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.01)
        handler = SQSForwardHandler(
            queue.url, REGION, endpoint_url=proxy.url, retry=retry, **options
        )
        made.append(handler)
        return handler

    yield make
    for handler in made:
        await handler.aclose()


async def send_ten(handler: SQSForwardHandler, queue: SQSQueue, *, big: str = BIG) -> Outcome:
    """Dispatch 10 events in one scope, the 5th with ``big`` as payload; read the queue."""
    outcome = Outcome()
    recorder = LocalHandler()

    @recorder.register
    async def record(event: Event) -> None:
        outcome.dispatched.append(event.id)

    def hook(event: Event, _: object, exc: BaseException) -> None:
        outcome.failures.append((event, exc))

    async with event_scope(handlers=[handler, recorder], on_error=hook):
        for n in range(10):
            dispatch("big" if n == 4 else "small", big if n == 4 else n)
    outcome.received = [decode(m).id for m in queue.receive_all(10)]
    return outcome


def assert_one_outcome_each(outcome: Outcome, *, delivered: int, reported: int) -> None:
    """Every dispatched event was delivered or reported, exactly once."""
    assert (len(outcome.received), len(outcome.reported)) == (delivered, reported)
    assert not set(outcome.received) & set(outcome.reported)
    assert sorted(outcome.received + outcome.reported) == sorted(outcome.dispatched)


async def test_an_event_over_the_queues_limit_is_reported_and_never_sent(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """Default max_bytes, 256 KiB queue: the 300 KiB event is reported, the 9 others arrive."""
    queue = sqs_queue(MaximumMessageSize=OLD_LIMIT)
    outcome = await send_ten(make_handler(queue, sqs_proxy), queue)
    assert_one_outcome_each(outcome, delivered=9, reported=1)
    [(event, error)] = outcome.failures
    assert (event.key, type(error)) == ("big", SerializationError)
    assert "over the 262144-byte SQS limit (the queue's MaximumMessageSize)" in str(error)
    assert [action for action, _ in sqs_proxy.requests] == [
        "GetQueueAttributes",
        "SendMessageBatch",
    ]
    assert sqs_proxy.sends() == [9]


async def test_the_queues_limit_is_read_at_startup_and_caps_batches(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """astart() reads MaximumMessageSize; 100 KB messages then go two per batch, not ten."""
    queue = sqs_queue(MaximumMessageSize=OLD_LIMIT)
    handler = make_handler(queue, sqs_proxy)
    await handler.astart()
    assert sqs_proxy.requests == [("GetQueueAttributes", 0)]
    await handler.handle_many([Event("n", "x" * 100_000) for _ in range(5)])
    assert sorted(sqs_proxy.sends(), reverse=True) == [2, 2, 1]  # sent concurrently
    assert len(queue.receive_all(5)) == 5


async def test_a_smaller_max_bytes_is_kept_under_a_larger_queue_limit(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """The limit is the smaller of max_bytes and the queue's: 2 KiB reports a 3 KB event."""
    queue = sqs_queue()
    outcome = await send_ten(make_handler(queue, sqs_proxy, max_bytes=2048), queue, big="x" * 3000)
    assert_one_outcome_each(outcome, delivered=9, reported=1)
    assert "over the 2048-byte SQS limit;" in str(outcome.failures[0][1])


async def test_a_limit_lowered_after_startup_splits_the_rejected_batch(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """A batch rejected whole (InvalidParameterValue) is halved until only the bad entry fails."""
    queue = sqs_queue()
    handler = make_handler(queue, sqs_proxy)
    await handler.astart()  # reads 1 MiB
    queue.client.set_queue_attributes(
        QueueUrl=queue.url, Attributes={"MaximumMessageSize": OLD_LIMIT}
    )
    outcome = await send_ten(handler, queue)
    assert_one_outcome_each(outcome, delivered=9, reported=1)
    [(event, error)] = outcome.failures
    assert event.key == "big"
    assert isinstance(error, SQSDeliveryError)
    assert (error.code, error.sender_fault) == ("InvalidParameterValue", True)
    assert sqs_proxy.sends() == SPLIT_SENDS  # 9 calls for 10 entries: at most 2n - 1


async def test_a_denied_limit_read_warns_once_and_the_split_still_isolates(
    sqs_queue: Callable[..., SQSQueue],
    sqs_proxy: FaultyProxy,
    make_handler: MakeHandler,
    library_logs: list[logging.LogRecord],
) -> None:
    """Without sqs:GetQueueAttributes: one warning (code, no payload), then the split path."""
    queue = sqs_queue(MaximumMessageSize=OLD_LIMIT)
    sqs_proxy.deny = {"GetQueueAttributes"}
    handler = make_handler(queue, sqs_proxy)
    first = await send_ten(handler, queue)
    await handler.aclose()  # the next client reads (and fails) again
    second = await send_ten(handler, queue)
    for outcome in (first, second):
        assert_one_outcome_each(outcome, delivered=9, reported=1)
    warnings = [r for r in library_logs if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "AccessDenied" in message and "max_bytes=1048576" in message
    assert "xxxx" not in message and warnings[0].exc_info is None
    assert sqs_proxy.sends() == SPLIT_SENDS * 2


@pytest.mark.parametrize(
    "code",
    [
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "BatchRequestTooLong",
        "InvalidParameterValue",
        "InvalidMessageContents",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    ],
)
async def test_a_batch_rejected_whole_for_its_contents_is_sent_in_halves(
    code: str, sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """SQS's codes (legacy query names too) that a smaller batch avoids make two halves."""
    queue = sqs_queue()
    sqs_proxy.batch_errors = [code]
    handler = make_handler(queue, sqs_proxy)
    await handler.handle_many([Event("n", n) for n in range(10)])
    assert sqs_proxy.sends() == [10, 5, 5]
    assert sorted(json.loads(m["Body"])[1] for m in queue.receive_all(10)) == list(range(10))


async def test_other_whole_batch_sender_faults_are_reported_without_splitting(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """A queue-level fault (no such queue) fails every entry once; no call per half."""
    queue = sqs_queue()
    sqs_proxy.batch_errors = ["AWS.SimpleQueueService.NonExistentQueue"]
    outcome = await send_ten(make_handler(queue, sqs_proxy), queue, big="small")
    assert_one_outcome_each(outcome, delivered=0, reported=10)
    assert {getattr(error, "code", None) for _, error in outcome.failures} == {
        "AWS.SimpleQueueService.NonExistentQueue"
    }
    assert sqs_proxy.sends() == [10]
