"""App A under a real uvicorn dispatches -> SQS forwarder -> moto -> a consumer (in this
test, or a worker subprocess) -> a local handler (the harness: e2e_kit.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fastapi_events.consumers import SQSConsumer
from tests.consumers.e2e_kit import (
    REQUEST_ID,
    AppA,
    Harness,
    assert_exactly_once,
    handled_by,
    sigterm_mid_batch,
)
from tests.consumers.kit import scripted, until
from tests.servers.sqs import REGION, SQSQueue

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def app_a(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppA]:
    """App A (e2e_sqs.py) under uvicorn, shared by the module: each test's events go to
    its own queue."""
    app = AppA("sqs", tmp_path_factory.mktemp("app-a"), {"SQS_ENDPOINT": moto_endpoint})
    try:
        yield app
    finally:
        app.close()


def consumer_for(queue: SQSQueue, handlers: list[Any], **options: Any) -> SQSConsumer:
    return SQSConsumer(
        queue.url,
        handlers=handlers,
        region_name=REGION,
        endpoint_url=queue.endpoint,
        wait_time_seconds=0,
        backoff=0,
        **options,
    )


async def test_the_consumer_sees_the_event_app_a_dispatched(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue]
) -> None:
    """Same event id, name, payload and correlation id on both sides of the queue."""
    queue = sqs_queue()
    await app_a.place(queue.url, 3)
    handler, calls = scripted(pattern="order.*")
    async with consumer_for(queue, [handler]):
        await until(lambda: len(calls.finished) == 3)
    await until(lambda: len(app_a.dispatched(queue.url)) == 3)
    sent = {
        i: (r["name"], r["payload"], r["correlation_id"])
        for i, r in app_a.dispatched(queue.url).items()
    }
    got = {e.id: (e.name, e.payload, e.correlation_id) for e in calls.finished}
    assert got == sent
    assert {correlation for _, _, correlation in got.values()} == {REQUEST_ID}


async def test_failing_twice_then_succeeding_is_handled_once_after_two_retries(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue]
) -> None:
    """The handler runs three times for the event, and finishes once."""
    queue = sqs_queue()
    await app_a.place(queue.url)
    handler, calls = scripted(2, pattern="order.*")
    consumer = consumer_for(queue, [handler])
    async with consumer:
        await until(lambda: calls.finished)
    [event_id] = app_a.dispatched(queue.url)
    assert (calls.count(event_id), calls.finished_ids) == (3, {event_id: 1})
    assert (consumer.stats.retried, consumer.stats.succeeded) == (2, 1)


async def test_failing_always_is_dead_lettered_after_n_deliveries(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue]
) -> None:
    """Four deliveries, then the dead-letter handler gets the same event once."""
    queue = sqs_queue()
    await app_a.place(queue.url)
    handler, calls = scripted(99, pattern="order.*")
    dead, buried = scripted()
    async with consumer_for(queue, [handler], max_deliveries=4, dead_letter=dead):
        await until(lambda: buried.finished)
    [event_id] = app_a.dispatched(queue.url)
    assert calls.count(event_id) == 4
    assert [e.id for e in buried.finished] == [event_id]


async def test_sigterm_mid_batch_acks_nothing_unhandled_and_loses_nothing(
    app_a: AppA, sqs_queue: Callable[..., SQSQueue], e2e: Harness
) -> None:
    """SIGTERM while a worker handles a batch: what finished is deleted (its handler
    spans linked to app A's dispatch), what did not (cancelled past the timeout, or never
    received) is back in the queue and handled by the next consumer; by event id."""
    queue = sqs_queue()
    worker = e2e.worker("sqs", QUEUE_URL=queue.url, SQS_ENDPOINT=queue.endpoint)
    sent, finished = await sigterm_mid_batch(app_a, worker, to=queue.url, count=9, done=3)
    rest = await handled_by(
        lambda handlers: consumer_for(queue, handlers), len(sent) - len(finished)
    )
    assert_exactly_once(sent, finished, rest)
