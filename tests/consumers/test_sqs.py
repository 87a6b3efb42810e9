"""SQSConsumer against moto's SQS server on 127.0.0.1, with real boto3."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from fastapi_events._event import Event
from fastapi_events.consumers import UNDECODABLE_EVENT, SQSConsumer
from fastapi_events.errors import ConfigurationError
from fastapi_events.serialization import CloudEventsFormat, MessageFormat
from tests.consumers.kit import counts, forward, scripted, until
from tests.servers.sqs import REGION, SQSQueue

pytestmark = pytest.mark.anyio

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def consumer_for(queue: SQSQueue, handlers: list[Any], **options: Any) -> SQSConsumer:
    """A consumer of ``queue`` with short polls and immediate retries."""
    options.setdefault("backoff", 0)
    return SQSConsumer(
        queue.url,
        handlers=handlers,
        region_name=REGION,
        endpoint_url=queue.endpoint,
        wait_time_seconds=0,
        **options,
    )


def order(i: int, **metadata: Any) -> Event:
    return Event("order.paid", {"order": i}, **metadata)


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/orders"), CloudEventsFormat("/orders", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_every_body_comes_back_as_the_dispatched_event(
    sqs_queue: Callable[..., SQSQueue], serializer: MessageFormat | None
) -> None:
    """Id, name, payload, correlation id and trace context survive the queue."""
    queue = sqs_queue()
    sent = order(1, correlation_id="corr-1", trace_context=TRACE)
    await forward(queue, [sent], serializer)
    handler, calls = scripted()
    async with consumer_for(queue, [handler]):
        await until(lambda: calls.finished)
    [got] = calls.finished
    assert (got.id, got.name, got.payload) == (sent.id, "order.paid", {"order": 1})
    assert got.correlation_id == "corr-1"
    assert dict(got.trace_context or {}) == TRACE
    assert got.timestamp == sent.timestamp
    assert counts(queue) == (0, 0)


async def test_every_format_keeps_the_dispatch_time(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """The JSON array's ``event_time`` attribute (like CloudEvents' time) is the dispatch
    time, not when SQS took the message nor when it was received."""
    queue = sqs_queue()
    sent = order(
        1, timestamp=datetime(2020, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc).timestamp()
    )
    await forward(queue, [sent])
    handler, calls = scripted()
    async with consumer_for(queue, [handler]):
        await until(lambda: calls.finished)
    assert calls.finished[0].timestamp == sent.timestamp


async def test_a_message_without_event_time_has_the_time_sqs_took_it(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """A JSON array from a producer that writes no ``event_time`` (0.12, other code) gets
    SQS's SentTimestamp, not the time it was received."""
    queue = sqs_queue()
    before = time.time()
    queue.client.send_message(
        QueueUrl=queue.url,
        MessageBody='["order.paid", {"order": 1}]',
        MessageAttributes={"event_id": {"DataType": "String", "StringValue": "e-1"}},
    )
    after = time.time()
    await asyncio.sleep(0.05)  # received after it was sent
    handler, calls = scripted()
    async with consumer_for(queue, [handler]):
        await until(lambda: calls.finished)
    received = time.time()
    assert calls.finished[0].id == "e-1"
    stamp = calls.finished[0].unix_time
    assert before - 0.001 <= stamp <= after + 0.001 < received  # SentTimestamp: ms


@pytest.mark.parametrize("transport", ["asyncio", "botocore"])
async def test_a_partial_failure_deletes_only_the_successes(
    sqs_queue: Callable[..., SQSQueue], transport: str
) -> None:
    """Two of five fail: three are deleted, two wait invisible for their retry (through
    either transport)."""
    queue = sqs_queue()
    await forward(queue, [order(i) for i in range(5)])
    handler, calls = scripted(lambda event: 9 if event.payload["order"] in (1, 3) else 0)
    consumer = consumer_for(queue, [handler], backoff=60, transport=transport)
    async with consumer:
        await until(lambda: len(calls.started) == 5)
    assert sorted(e.payload["order"] for e in calls.finished) == [0, 2, 4]
    assert counts(queue) == (0, 2)
    assert (consumer.stats.succeeded, consumer.stats.failed, consumer.stats.retried) == (3, 2, 2)


@pytest.mark.parametrize("transport", ["asyncio", "botocore"])
async def test_failing_twice_then_succeeding_is_redelivered_by_sqs(
    sqs_queue: Callable[..., SQSQueue], transport: str
) -> None:
    """Each failure hands the message back to SQS; the third delivery succeeds."""
    queue = sqs_queue()
    sent = order(7)
    await forward(queue, [sent])
    handler, calls = scripted(2)
    consumer = consumer_for(queue, [handler], transport=transport)
    async with consumer:
        await until(lambda: calls.finished)
    assert calls.count(sent.id) == 3
    assert calls.finished_ids == {sent.id: 1}
    assert (consumer.stats.received, consumer.stats.retried, consumer.stats.succeeded) == (3, 2, 1)
    assert counts(queue) == (0, 0)


async def test_always_failing_is_dead_lettered_after_max_deliveries(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Three deliveries, then the dead-letter handler and on_error get it once; deleted."""
    queue = sqs_queue()
    sent = order(9)
    await forward(queue, [sent])
    handler, calls = scripted(99)
    dead, buried = scripted()
    errors: list[tuple[Event, Any, BaseException]] = []
    consumer = consumer_for(
        queue, [handler], max_deliveries=3, dead_letter=dead, on_error=lambda *f: errors.append(f)
    )
    async with consumer:
        await until(lambda: buried.finished)
    assert calls.count(sent.id) == 3
    assert [e.id for e in buried.finished] == [sent.id]
    [(event, failed, exc)] = errors
    assert (event.id, getattr(failed, "__name__", None), type(exc)) == (
        sent.id,
        "work",
        RuntimeError,
    )
    assert consumer.stats.dead_lettered == 1
    assert counts(queue) == (0, 0)


async def test_a_redelivery_while_still_handled_is_neither_handled_nor_buried(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Handling outlasting the visibility timeout: the second copy waits, the first acks."""
    queue = sqs_queue()
    await forward(queue, [order(1)])
    gate = asyncio.Event()
    handler, calls = scripted(gate=gate)
    errors: list[Any] = []
    consumer = consumer_for(
        queue,
        [handler],
        visibility_timeout=1,
        max_deliveries=1,
        backoff=60,
        on_error=lambda *failure: errors.append(failure),
    )
    async with consumer:
        await until(lambda: consumer.stats.received == 2, "the redelivery")
        gate.set()
        await until(lambda: calls.finished)
    assert (len(calls.started), errors, consumer.stats.dead_lettered) == (1, [], 0)


async def test_a_failing_dead_letter_handler_keeps_the_message(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Dead-lettering that fails is not a loss: the message is retried, not deleted."""
    queue = sqs_queue()
    await forward(queue, [order(1)])
    handler, _ = scripted(99)
    dead, buried = scripted(99)
    consumer = consumer_for(queue, [handler], max_deliveries=1, dead_letter=dead, backoff=60)
    async with consumer:
        await until(lambda: buried.started)
    assert consumer.stats.dead_lettered == 0
    assert counts(queue) == (0, 1)


async def test_a_message_that_is_no_event_reaches_the_dead_letter_handler(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """A foreign body is dead-lettered at once, its raw body kept in a stand-in event."""
    queue = sqs_queue()
    queue.client.send_message(QueueUrl=queue.url, MessageBody="not json at all")
    handler, calls = scripted()
    dead, buried = scripted()
    consumer = consumer_for(queue, [handler], dead_letter=dead)
    async with consumer:
        await until(lambda: buried.finished)
    [stand_in] = buried.finished
    assert stand_in.name == UNDECODABLE_EVENT
    assert stand_in.payload["body"] == "not json at all"
    assert stand_in.payload["encoding"] == "utf-8"
    assert calls.started == []
    assert consumer.stats.undecodable == 1
    assert counts(queue) == (0, 0)


async def test_deduplicate_acknowledges_a_second_copy_unhandled(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """The same event sent twice (at-least-once) is handled once; both are deleted."""
    queue = sqs_queue()
    sent = order(3)
    await forward(queue, [sent])
    handler, calls = scripted()
    consumer = consumer_for(queue, [handler], deduplicate=True)
    async with consumer:
        await until(lambda: calls.finished)
        await forward(queue, [sent])
        await until(lambda: consumer.stats.duplicates == 1)
    assert calls.count(sent.id) == 1
    assert counts(queue) == (0, 0)


async def test_stop_lets_messages_in_flight_finish(sqs_queue: Callable[..., SQSQueue]) -> None:
    """A message being handled when stop() comes is finished and deleted."""
    queue = sqs_queue()
    await forward(queue, [order(1)])
    gate = asyncio.Event()
    handler, calls = scripted(gate=gate)
    consumer = consumer_for(queue, [handler])
    await consumer.start()
    await until(lambda: calls.started)
    stopping = asyncio.ensure_future(consumer.stop(timeout=10))
    await asyncio.sleep(0.1)
    gate.set()
    await stopping
    assert len(calls.finished) == 1
    assert counts(queue) == (0, 0)


async def test_stop_gives_back_what_did_not_finish_in_time(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Past the timeout, handling is cancelled and the message is visible again at once."""
    queue = sqs_queue()
    sent = order(1)
    await forward(queue, [sent])
    handler, calls = scripted(gate=asyncio.Event())  # never opens
    consumer = consumer_for(queue, [handler])
    await consumer.start()
    await until(lambda: calls.started)
    await consumer.stop(timeout=0.1)
    assert calls.finished == []
    assert consumer.stats.released == 1
    [message] = queue.receive_all(1)
    assert message["MessageAttributes"]["event_id"]["StringValue"] == sent.id


async def test_concurrency_bounds_the_messages_in_flight(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """With concurrency=2, two messages are handled at a time and no more are received."""
    queue = sqs_queue()
    await forward(queue, [order(i) for i in range(6)])
    gate = asyncio.Event()
    handler, calls = scripted(gate=gate)
    consumer = consumer_for(queue, [handler], concurrency=2)
    async with consumer:
        await until(lambda: len(calls.started) == 2)
        await asyncio.sleep(0.3)  # room for a wrong third receive to show up
        assert (len(calls.started), consumer.stats.received) == (2, 2)
        gate.set()
        await until(lambda: len(calls.finished) == 6)
    assert counts(queue) == (0, 0)


async def test_handler_spans_link_to_the_producer(sqs_queue: Callable[..., SQSQueue]) -> None:
    """With a tracer provider, each handler span links to the dispatch span's context."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    queue = sqs_queue()
    await forward(queue, [order(1, trace_context=TRACE)])
    handler, calls = scripted()
    async with consumer_for(queue, [handler], tracer_provider=provider):
        await until(lambda: calls.finished)
    [span] = [s for s in exporter.get_finished_spans() if s.name == "process order.paid"]
    [link] = span.links
    assert f"{link.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{link.context.span_id:016x}" == "b7ad6b7169203331"


async def test_fastapi_lifespan_consumes_while_the_app_runs(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """FastAPI(lifespan=consumer.lifespan) starts consuming at startup, stops at shutdown."""
    from fastapi import FastAPI

    queue = sqs_queue()
    await forward(queue, [order(1)])
    handler, calls = scripted()
    consumer = consumer_for(queue, [handler])
    app = FastAPI(lifespan=consumer.lifespan)
    async with app.router.lifespan_context(app):
        await until(lambda: calls.finished)
        assert consumer.running
    assert not consumer.running


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("wait_time_seconds", 21),
        ("visibility_timeout", -1),
        ("concurrency", 0),
        ("receives", 0),
        ("receives", "4"),
    ],
)
def test_options_out_of_range_are_refused(option: str, value: object) -> None:
    """SQS's limits and the consumer's own are checked at construction."""
    with pytest.raises(ConfigurationError, match=option):
        SQSConsumer("http://127.0.0.1:1/q", handlers=[scripted()[0]], **{option: value})


@pytest.mark.parametrize("transport", ["asyncio", "botocore"])
async def test_several_receives_in_flight_handle_every_message_once(
    sqs_queue: Callable[..., SQSQueue], transport: str
) -> None:
    """receives=4 (asyncio; boto3 keeps one): 40 messages, each handled once, all deleted.

    A standard queue delivers at least once: concurrent receives may both get a message
    (moto does, about 1 run in 40 under load), so ``deduplicate=True`` keeps the handling
    exactly once: a copy is acknowledged unhandled as a duplicate, or, arriving while the
    first is being handled, given back for a second and acknowledged then."""
    queue = sqs_queue()
    sent = [order(i) for i in range(40)]
    await forward(queue, sent)
    handler, calls = scripted()
    consumer = consumer_for(
        queue, [handler], concurrency=40, receives=4, transport=transport, deduplicate=True
    )
    assert consumer.receives == 4
    stats = consumer.stats
    async with consumer:
        await until(lambda: len(calls.finished) == 40)
        assert consumer.receives_in_flight == (4 if transport == "asyncio" else 1)
        # Every copy settled: each given back has come again as a duplicate.
        await until(
            lambda: (
                stats.received == stats.succeeded + stats.duplicates + stats.retried
                and stats.duplicates >= stats.retried
            )
        )
    assert calls.finished_ids == Counter(event.id for event in sent)
    assert (stats.succeeded, stats.failed, stats.dead_lettered) == (40, 0, 0)
    assert counts(queue) == (0, 0)


async def test_thirty_acknowledgements_go_out_as_three_calls_at_once(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """A flush of 30 acks sends its 3 DeleteMessageBatch calls concurrently (one at a time
    would cap a busy consumer at 10 messages per round trip); all 30 are deleted."""
    queue = sqs_queue()
    await forward(queue, [order(i) for i in range(30)])
    handler, calls = scripted()
    consumer = consumer_for(queue, [handler], concurrency=30)
    calls_open, most_open = [0], [0]
    send = consumer._batch

    async def counted(what: str, entries: list[dict[str, Any]]) -> None:
        calls_open[0] += 1
        most_open[0] = max(most_open[0], calls_open[0])
        try:
            await send(what, entries)
        finally:
            calls_open[0] -= 1

    consumer._batch = counted  # type: ignore[method-assign]
    deliveries: list[Any] = []
    await consumer.connect()  # the hooks by hand: no receive loop competing
    try:
        for _ in range(20):
            if len(deliveries) == 30:
                break
            deliveries += await consumer.receive(10)
        await consumer.ack(deliveries)
    finally:
        await consumer.disconnect()
    assert (len(deliveries), most_open[0], calls.started) == (30, 3, [])
    assert counts(queue) == (0, 0)


def test_receives_default_to_one_per_ten_of_concurrency() -> None:
    """One ReceiveMessage in flight per 10 messages of concurrency, 1 to 10."""
    made = [
        SQSConsumer("http://127.0.0.1:1/q", handlers=[scripted()[0]], concurrency=c).receives
        for c in (1, 10, 11, 35, 1000)
    ]
    assert made == [1, 1, 2, 4, 10]


@pytest.mark.parametrize("value", [5, "http"])
def test_an_unknown_transport_is_refused(value: object) -> None:
    """transport= names one of auto/asyncio/botocore; the error names what was given."""
    with pytest.raises(ConfigurationError, match="transport must be one of") as caught:
        SQSConsumer("http://127.0.0.1:1/q", handlers=[scripted()[0]], transport=value)
    assert ("int" if value == 5 else "'http'") in str(caught.value)


def test_binary_attributes_arrive_as_bytes_on_either_transport() -> None:
    """SQS's JSON answer carries Binary attributes base64-encoded; boto3 gives bytes, and
    so does the asyncio transport."""
    from fastapi_events.consumers._sqs_messages import as_boto3

    message = {"MessageAttributes": {"blob": {"DataType": "Binary", "BinaryValue": "AAEC"}}}
    assert as_boto3(message)["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\x02"
