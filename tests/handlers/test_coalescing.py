"""Cross-request batching (``linger``) of the SQS and SNS forwarders, against moto through
real boto3: calls counted at a recording proxy, outcomes counted by event id per drain."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.aws import DEFAULT_LINGER, RetryPolicy, SQSForwardHandler
from fastapi_events.handlers.sns import SNSForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.accounting import Ledger, call, dispatching_app
from tests.servers.sns import SNSProxy, SNSTopic
from tests.servers.sqs import REGION, FaultyProxy, SQSQueue

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
#: Long enough that every drain of a test joins before a part-full request leaves.
LONG = 1.0


@pytest.fixture
async def handlers() -> AsyncIterator[list[Any]]:
    """Handlers made by a test, aclose()d at its end."""
    made: list[Any] = []
    yield made
    for handler in made:
        await handler.aclose()


@pytest.fixture
def make_sqs(handlers: list[Any]) -> Callable[..., SQSForwardHandler]:
    def make(queue: SQSQueue, proxy: FaultyProxy, **options: Any) -> SQSForwardHandler:
        options.setdefault("retry", FAST)
        handler = SQSForwardHandler(queue.url, REGION, endpoint_url=proxy.url, **options)
        handlers.append(handler)
        return handler

    return make


class LabelLedger(Ledger):
    """A drain's ledger, by the label in each event's payload."""

    def on_error(self, event: Event, handler: Any, exc: BaseException) -> None:
        self.reported.append((event.payload["label"], handler, type(exc)))


async def drains(handler: Any, count: int, size: int = 3) -> list[tuple[list[str], Ledger]]:
    """``count`` concurrent drains of ``size`` events each: per drain, its event labels
    and its own error hook's ledger."""
    await handler.astart()  # the client first: every drain then submits at once

    async def drain(number: int) -> tuple[list[str], Ledger]:
        ledger, labels = LabelLedger(), [f"{number}-{index}" for index in range(size)]
        async with event_scope(handlers=[handler], on_error=ledger.on_error):
            for label in labels:
                dispatch("order.placed", {"label": label})
        return labels, ledger

    return await asyncio.gather(*(drain(number) for number in range(count)))


def received_labels(messages: list[dict[str, Any]]) -> list[str]:
    return [json.loads(m["Body"])[1]["label"] for m in messages]


def received_ids(queue: SQSQueue, expected: int) -> list[str]:
    messages = queue.receive_all(expected)
    return [m["MessageAttributes"]["event_id"]["StringValue"] for m in messages]


def assert_each_drain_exact(outcomes: list[tuple[list[str], Ledger]], received: list[str]) -> None:
    """Each drain: its events delivered or reported to its own hook, once; none twice
    (``received``: the labels that arrived)."""
    assert len(received) == len(set(received)), "an event was delivered twice"
    for ids, ledger in outcomes:
        assert set(ledger.reported_ids()) <= set(ids), "a failure reached another drain"
        ledger.handled = [event_id for event_id in received if event_id in set(ids)]
        ledger.assert_exact(len(ids))


# --- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [-0.001, 1.5, math.nan, math.inf, "5ms", True, None])
@pytest.mark.parametrize("cls", [SQSForwardHandler, SNSForwardHandler])
def test_bad_linger_is_rejected_at_construction(cls: Any, value: Any) -> None:
    """linger must be seconds from 0 to 1; the error names the type and the fix."""
    destination = "http://q" if cls is SQSForwardHandler else "arn:aws:sns:us-east-1:1:t"
    with pytest.raises(ConfigurationError, match=r"linger must be a number") as info:
        cls(destination, REGION, linger=value)
    assert type(value).__name__ in str(info.value)
    assert f"linger={DEFAULT_LINGER}" in str(info.value)


# --- sharing ---------------------------------------------------------------------------


async def test_concurrent_drains_share_full_batch_requests(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """20 concurrent drains of 3 events make 6 SendMessageBatch calls of 10, not 20."""
    queue = sqs_queue()
    handler = make_sqs(queue, sqs_proxy, linger=LONG)
    outcomes = await drains(handler, 20)
    assert sqs_proxy.sends() == [10] * 6
    assert_each_drain_exact(outcomes, received_labels(queue.receive_all(60)))


async def test_linger_0_sends_each_drain_alone(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """linger=0 keeps one request per drain (the behaviour before sharing)."""
    queue = sqs_queue()
    handler = make_sqs(queue, sqs_proxy, linger=0)
    outcomes = await drains(handler, 4)
    assert sqs_proxy.sends() == [3, 3, 3, 3]
    assert_each_drain_exact(outcomes, received_labels(queue.receive_all(12)))


async def test_fifo_queues_are_never_shared(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """A FIFO queue's drains send alone, in order, whatever the linger."""
    queue = sqs_queue(fifo=True)
    handler = make_sqs(queue, sqs_proxy, linger=LONG, message_group_id="g")
    outcomes = await drains(handler, 3)
    assert sqs_proxy.sends() == [3, 3, 3]
    assert_each_drain_exact(outcomes, received_labels(queue.receive_all(9)))


async def test_sns_drains_share_publish_batch_requests(
    sns_topic: Callable[..., SNSTopic], sns_proxy: SNSProxy, handlers: list[Any]
) -> None:
    """4 concurrent drains of 3 events: PublishBatch calls of 10 and 2."""
    topic = sns_topic()
    handler = SNSForwardHandler(topic.arn, REGION, endpoint_url=sns_proxy.url, linger=0.05)
    handlers.append(handler)
    outcomes = await drains(handler, 4)
    assert sns_proxy.publishes() == [10, 2]
    assert_each_drain_exact(outcomes, received_labels(topic.queue.receive_all(12)))


# --- failures --------------------------------------------------------------------------


async def test_a_failed_entry_of_a_shared_request_reaches_only_its_drain(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """SQS refuses entry 5 of a request shared by 4 drains: only the second drain hears of
    it, for that event; the 11 others arrive once."""
    queue = sqs_queue()
    sqs_proxy.fail_entries = [([4], True)]
    handler = make_sqs(queue, sqs_proxy, linger=0.05)
    outcomes = await drains(handler, 4)
    assert sqs_proxy.sends() == [10, 2]
    reported = [ledger.reported_ids() for _, ledger in outcomes]
    assert reported == [[], ["1-1"], [], []]
    assert_each_drain_exact(outcomes, received_labels(queue.receive_all(11)))


async def test_a_shared_request_rejected_whole_is_resent_per_drain_alone(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """A request rejected whole for its contents: each drain sends its own part again
    without sharing (a drain split across two requests retries the failed part); all
    12 events arrive once, nothing is reported."""
    queue = sqs_queue()
    sqs_proxy.batch_errors = ["AWS.SimpleQueueService.BatchRequestTooLong"]
    handler = make_sqs(queue, sqs_proxy, linger=0.05)
    outcomes = await drains(handler, 4)
    sends = sqs_proxy.sends()
    assert sends[:2] == [10, 2] or sends[0] == 10
    assert sum(sends[1:]) == 12  # the 10 again, in parts no bigger than a drain's
    assert max(sends[1:]) <= 3
    assert_each_drain_exact(outcomes, received_labels(queue.receive_all(12)))


# --- cancellation ----------------------------------------------------------------------


async def test_a_drain_cancelled_before_its_request_leaves_is_sent_once(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """Cancelled while its part waits for more messages: the part is taken back, the
    events are sent once by the background continuation, and none is reported."""
    queue = sqs_queue()
    handler = make_sqs(queue, sqs_proxy, linger=LONG)
    ledger = Ledger()
    middleware = EventHandlerASGIMiddleware(
        dispatching_app(3), handlers=[handler], on_error=ledger.on_error
    )
    await handler.astart()
    request = asyncio.ensure_future(call(middleware))
    await asyncio.sleep(0.05)  # the drain waits for the request to fill
    assert sqs_proxy.sends() == []
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await middleware.pipeline.shutdown()
    assert sqs_proxy.sends() == [3]
    ledger.handled = received_ids(queue, 3)
    ledger.assert_exact(3)


async def test_a_drain_cancelled_while_its_shared_request_is_held_settles_once(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """Two drains share a request SQS holds; one is cancelled: the answer, within the
    grace, settles both drains' events; nothing is sent twice or reported."""
    queue = sqs_queue()
    handler = make_sqs(queue, sqs_proxy, linger=0.05)
    ledger = Ledger()
    middleware = EventHandlerASGIMiddleware(
        dispatching_app(3), handlers=[handler], on_error=ledger.on_error
    )
    await handler.astart()
    sqs_proxy.hold = True
    requests = [asyncio.ensure_future(call(middleware)) for _ in range(2)]
    assert await asyncio.to_thread(sqs_proxy.held.wait, 10)
    requests[0].cancel()
    await asyncio.sleep(0.05)  # the cancellation reaches the drain first
    sqs_proxy.released.set()
    with pytest.raises(asyncio.CancelledError):
        await requests[0]
    await requests[1]
    await middleware.pipeline.shutdown()
    assert sqs_proxy.sends() == [6]
    ledger.handled = received_ids(queue, 6)
    ledger.assert_exact(6)


async def test_a_cancelled_shared_send_is_retried_alone(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """If the task sending a shared request is cancelled, its drains do not hang: each
    sends its events again alone (an unknown outcome, retried as a transient failure:
    at least once), and none is reported."""
    queue = sqs_queue()
    handler = make_sqs(queue, sqs_proxy, linger=0.05)
    await handler.astart()
    sqs_proxy.hold = True
    gathered = asyncio.ensure_future(drains(handler, 2))
    assert await asyncio.to_thread(sqs_proxy.held.wait, 10)
    coalescer = handler._coalescer
    assert coalescer is not None
    for task in list(coalescer._sending):
        task.cancel()
    sqs_proxy.hold = False
    sqs_proxy.released.set()
    outcomes = await asyncio.wait_for(gathered, 10)
    assert sqs_proxy.sends() == [6, 3, 3]
    assert set(received_labels(queue.receive_all(12))) == {
        f"{d}-{n}" for d in (0, 1) for n in (0, 1, 2)
    }
    assert [ledger.reported for _, ledger in outcomes] == [[], []]


async def test_handle_many_outside_a_drain_still_shares(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_sqs: Any
) -> None:
    """handle_many() called directly (no pipeline) shares requests as well."""
    queue = sqs_queue()
    handler = make_sqs(queue, sqs_proxy, linger=LONG)
    await handler.astart()
    batches = [[Event("n", {"n": 5 * b + i}) for i in range(5)] for b in range(2)]
    await asyncio.gather(*(handler.handle_many(batch) for batch in batches))
    assert sqs_proxy.sends() == [10]
    assert len(received_ids(queue, 10)) == 10
