"""KafkaConsumer against a real Kafka-compatible broker (Tansu) on 127.0.0.1, unique topics.

Tansu refuses aiokafka's idempotent producer: the forwarder and the retry producer run
with ``idempotent=False``. Short session timeouts make a group join take ~1 s, not 5 s.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

import aiokafka
import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.consumers import KafkaConsumer, MemoryIdempotencyStore
from fastapi_events.consumers._kafka_retry import DELIVERY_HEADER, ORIGIN_HEADER
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.kafka import KAFKA_INSTALL_HINT, KafkaForwardHandler
from fastapi_events.serialization import CloudEventsFormat, MessageFormat
from tests.accounting import Ledger
from tests.consumers.kit import scripted, until
from tests.servers.kafka_server import KafkaTopics

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

#: Test-only group timings (real Kafka refuses session timeouts under 6 s by default).
FAST_GROUP = {
    "session_timeout_ms": 1000,
    "heartbeat_interval_ms": 100,
    "rebalance_timeout_ms": 1000,
}
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def consumer_for(
    topics: KafkaTopics, topic: str, handlers: list[Any], **options: Any
) -> KafkaConsumer:
    """A consumer of ``topic`` in a fresh group, retrying at once, its retry topic
    deleted with the test's topics."""
    options.setdefault("group", f"g-{uuid.uuid4().hex[:8]}")
    options.setdefault("backoff", 0)
    options.setdefault("poll_timeout", 0.2)
    consumer = KafkaConsumer(
        topic,
        handlers=handlers,
        bootstrap_servers=topics.bootstrap,
        idempotent=False,
        consumer_options=FAST_GROUP,
        **options,
    )
    topics.names.append(consumer.retry_topic)
    return consumer


async def forward(
    topics: KafkaTopics,
    topic: str,
    events: list[Event],
    serializer: MessageFormat | None = None,
    key: Any = None,
) -> None:
    """Produce ``events`` with the Kafka forwarder (one scope, one batch)."""
    forwarder = KafkaForwardHandler(
        topic, bootstrap_servers=topics.bootstrap, idempotent=False, serializer=serializer, key=key
    )
    failures: list[Any] = []
    async with event_scope(handlers=[forwarder], on_error=lambda *f: failures.append(f)) as buf:
        for event in events:
            buf.add(event)
    await forwarder.aclose()
    assert failures == []


async def committed(bootstrap: str, group: str, topic: str, partitions: int = 1) -> list[int]:
    """The group's committed offset of each partition of ``topic`` (-1: none)."""
    reader = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await reader.start()
    try:
        tps = [aiokafka.TopicPartition(topic, p) for p in range(partitions)]
        offsets = [await reader.committed(tp) for tp in tps]
        return [-1 if offset is None else offset for offset in offsets]
    finally:
        await reader.stop()


def order(i: int, **metadata: Any) -> Event:
    return Event("order.paid", {"order": i}, **metadata)


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/orders"), CloudEventsFormat("/orders", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_every_record_comes_back_as_the_dispatched_event_and_is_committed(
    kafka_topic: KafkaTopics, serializer: MessageFormat | None
) -> None:
    """Id, name, payload, timestamp, correlation id and trace context survive the topic;
    the group's offset is committed past every record."""
    topic = await kafka_topic.make("roundtrip")
    sent = [order(i, correlation_id="corr-1", trace_context=TRACE) for i in range(3)]
    await forward(kafka_topic, topic, sent, serializer)
    handler, calls = scripted()
    consumer = consumer_for(kafka_topic, topic, [handler])
    async with consumer:
        await until(lambda: len(calls.finished) == 3)
    got = [(e.id, e.name, e.payload, e.correlation_id) for e in calls.finished]
    assert got == [(e.id, "order.paid", e.payload, "corr-1") for e in sent]  # in order
    assert all(dict(e.trace_context or {}) == TRACE for e in calls.finished)
    # The record's timestamp (JSON array) or CloudEvents' time: the dispatch time, to the ms.
    assert all(
        abs(g.unix_time - s.unix_time) < 0.002 for g, s in zip(calls.finished, sent, strict=True)
    )
    assert await committed(kafka_topic.bootstrap, consumer.group, topic) == [3]


async def test_failing_twice_then_succeeding_goes_twice_through_the_retry_topic(
    kafka_topic: KafkaTopics,
) -> None:
    """Each failure copies the record to the retry topic (delivery 2, then 3); the
    third delivery succeeds; the message id stays the original record's."""
    topic = await kafka_topic.make("retry")
    sent = order(7)
    await forward(kafka_topic, topic, [sent])
    handler, calls = scripted(2)
    consumer = consumer_for(kafka_topic, topic, [handler])
    async with consumer:
        await until(lambda: calls.finished)
    assert (calls.count(sent.id), calls.finished_ids) == (3, {sent.id: 1})
    assert (consumer.stats.retried, consumer.stats.succeeded) == (2, 1)
    copies = await kafka_topic.read(consumer.retry_topic, 2)
    assert [dict(r.headers)[DELIVERY_HEADER] for r in copies] == [b"2", b"3"]
    assert {dict(r.headers)[ORIGIN_HEADER] for r in copies} == {f"{topic}/0/0".encode()}
    assert await committed(kafka_topic.bootstrap, consumer.group, topic) == [1]


async def test_always_failing_records_are_dead_lettered_and_the_rest_handled_once(
    kafka_topic: KafkaTopics,
) -> None:
    """Failing events reach dead_letter after 3 deliveries, the others are handled:
    handled + dead-lettered = dispatched, no id in both, none twice."""
    topic = await kafka_topic.make("dead")
    sent = [order(i) for i in range(6)]
    await forward(kafka_topic, topic, sent)
    handler, calls = scripted(lambda event: 99 if event.payload["order"] % 3 == 0 else 0)
    dead, buried = scripted()
    ledger = Ledger()
    consumer = consumer_for(
        kafka_topic, topic, [handler], max_deliveries=3, dead_letter=dead, on_error=ledger.on_error
    )
    async with consumer:
        await until(lambda: len(calls.finished) == 4 and len(buried.finished) == 2)
    ledger.handled = [event.id for event in calls.finished]
    ledger.assert_exact(len(sent))
    assert sorted(e.payload["order"] for e in buried.finished) == [0, 3]
    assert all(calls.count(event.id) == 3 for event in buried.finished)
    assert await committed(kafka_topic.bootstrap, consumer.group, topic) == [6]


async def test_a_stop_mid_batch_commits_nothing_past_the_unhandled_record(
    kafka_topic: KafkaTopics,
) -> None:
    """Record 0 is stuck at stop while 1-4 finished: the commit stays at 0, so a restart
    reads 0-4 again; with a shared de-duplication store each is handled exactly once."""
    topic = await kafka_topic.make("stop")
    sent = [order(i) for i in range(5)]
    await forward(kafka_topic, topic, sent)
    gate = asyncio.Event()
    stuck, first = scripted(pattern="never.*")
    store, group = MemoryIdempotencyStore(), f"g-{uuid.uuid4().hex[:8]}"

    @stuck.register(event_name="order.*")
    async def work(event: Event) -> None:
        if event.payload["order"] == 0:
            await gate.wait()  # never opened
        first.finished.append(event)

    options: dict[str, Any] = {"group": group, "ordering": None, "deduplicate": store}
    consumer = consumer_for(kafka_topic, topic, [stuck], **options)
    await consumer.start()
    await until(lambda: len(first.finished) == 4)
    await consumer.stop(timeout=0.1)
    assert consumer.stats.released == 1
    assert await committed(kafka_topic.bootstrap, group, topic) == [0]
    handler, second = scripted()
    again = consumer_for(kafka_topic, topic, [handler], **options)
    async with again:
        await until(lambda: again.stats.succeeded + again.stats.duplicates == 5)
    ledger = Ledger()
    ledger.handled = [e.id for e in first.finished + second.finished]
    ledger.assert_exact(len(sent))
    assert [e.payload["order"] for e in second.finished] == [0]
    assert await committed(kafka_topic.bootstrap, group, topic) == [5]


def keys_on_two_partitions() -> tuple[str, str]:
    """Two record keys the producer puts on partitions 0 and 1 of a 2-partition topic."""
    from aiokafka.partitioner import DefaultPartitioner

    partitioner, found = DefaultPartitioner(), {}
    for i in range(100):
        found.setdefault(partitioner(f"key-{i}".encode(), [0, 1], [0, 1]), f"key-{i}")
    return found[0], found[1]


async def test_a_partition_is_handled_in_order_while_the_others_go_on(
    kafka_topic: KafkaTopics,
) -> None:
    """A record held up holds back only the records behind it on its partition."""
    topic = await kafka_topic.make("order", partitions=2)
    slow_key, fast_key = keys_on_two_partitions()
    slow = [order(i, correlation_id=slow_key) for i in range(3)]
    fast = [order(i, correlation_id=fast_key) for i in range(10, 13)]
    await forward(kafka_topic, topic, slow + fast)  # keyed by correlation id
    gate = asyncio.Event()
    handler, calls = scripted(pattern="never.*")

    @handler.register(event_name="order.*")
    async def work(event: Event) -> None:
        calls.started.append(event)
        if event.id == slow[0].id:
            await gate.wait()
        calls.finished.append(event)

    async with consumer_for(kafka_topic, topic, [handler]):
        await until(lambda: len(calls.finished) == 3)
        assert [e.id for e in calls.finished] == [e.id for e in fast]
        assert [e.id for e in calls.started if e.correlation_id == slow_key] == [slow[0].id]
        gate.set()
        await until(lambda: len(calls.finished) == 6)
    assert [e.id for e in calls.finished[3:]] == [e.id for e in slow]


async def test_a_retry_waiting_for_its_time_holds_up_no_other_record(
    kafka_topic: KafkaTopics,
) -> None:
    """A copy due in 15-30 s waits on its paused retry partition while new records are
    handled; the original's offset is committed once the copy is in the retry topic."""
    topic = await kafka_topic.make("wait")
    late, *others = [order(i) for i in range(3)]
    await forward(kafka_topic, topic, [late])
    handler, calls = scripted(lambda event: 1 if event.id == late.id else 0)
    consumer = consumer_for(kafka_topic, topic, [handler], backoff=30)
    async with consumer:
        # The copy was read, and its retry partition paused until its time.
        await until(lambda: consumer._waits.next_in() is not None, "the copy waits")
        await forward(kafka_topic, topic, others)
        await until(lambda: len(calls.finished) == 2)
        assert consumer._waits.next_in() is not None
    assert [e.id for e in calls.finished] == [e.id for e in others]
    assert calls.count(late.id) == 1
    assert await committed(kafka_topic.bootstrap, consumer.group, topic) == [3]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"topics": 3}, "topics must be a topic name"),
        ({"topics": []}, "topics must be a topic name"),
        ({"group": ""}, "group must be a non-empty str"),
        ({"ordering": "offset"}, "ordering must be one of"),
        ({"start_from": "beginning"}, "start_from must be one of"),
        ({"retry_topic": "orders"}, "retry_topic must not be one of topics"),
        ({"consumer_options": {"enable_auto_commit": True}}, "enable_auto_commit"),
        ({"poll_timeout": 0}, "poll_timeout"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_arguments_are_refused_at_construction(arguments: dict[str, Any], named: str) -> None:
    """A wrong type or value is refused with a message naming the option and its type."""
    options = {"topics": "orders", "group": "billing", **arguments}
    with pytest.raises(ConfigurationError, match=named):
        KafkaConsumer(options.pop("topics"), handlers=[scripted()[0]], **options)


def test_missing_aiokafka_says_how_to_install() -> None:
    """Without aiokafka, constructing the consumer names the extra; importing does not
    import aiokafka."""
    code = (
        "import sys\nsys.modules['aiokafka'] = None\n"
        "from fastapi_events.consumers import KafkaConsumer\n"
        "try:\n    KafkaConsumer('t', group='g', handlers=[])\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == KAFKA_INSTALL_HINT


async def test_a_member_joining_takes_partitions_over_without_a_record_handled_twice(
    kafka_topic: KafkaTopics,
) -> None:
    """A rebalance commits what the first member settled before the second takes over:
    every event is handled once, by one of them."""
    topic = await kafka_topic.make("rebalance", partitions=4)
    early = [order(i, correlation_id=f"c{i}") for i in range(8)]
    late = [order(i, correlation_id=f"c{i}") for i in range(8, 16)]
    await forward(kafka_topic, topic, early)
    handler, calls = scripted()
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = consumer_for(kafka_topic, topic, [handler], group=group)
    second = consumer_for(kafka_topic, topic, [handler], group=group)
    async with first:
        await until(lambda: len(calls.finished) == 8)
        async with second:
            await until(lambda: bool(second._client.assignment()), "the second member's share")
            await forward(kafka_topic, topic, late)
            await until(lambda: len(calls.finished) >= 16)
    ledger = Ledger()
    ledger.handled = [e.id for e in calls.finished]
    ledger.assert_exact(16)
    assert second.stats.succeeded > 0


def test_the_commit_point_is_the_first_record_not_settled() -> None:
    """Settled out of order: the commit stops below the oldest unsettled record, and
    moves past the last received once everything is settled."""
    from fastapi_events.consumers._kafka_offsets import Offsets

    offsets = Offsets()
    track = offsets.track("tp")
    for offset in (5, 6, 7, 9):  # 8 compacted away
        track.received(offset)
    for offset in (6, 7, 9):
        track.settled(offset)
    assert offsets.due() == {"tp": 5}
    offsets.committed({"tp": 5})
    assert offsets.due() == {}
    track.settled(5)
    assert offsets.due() == {"tp": 10}
    offsets.forget(["tp"])
    assert not offsets.owns(track)


def test_a_retry_copy_keeps_the_record_s_headers_and_adds_ours() -> None:
    """The copy's headers: the record's own (earlier retry headers replaced), then ours."""
    from fastapi_events.consumers._kafka_retry import retry_headers, retry_meta

    first = retry_headers([("event_id", b"e1")], delivery=2, delay=0, origin="t/0/4", group="g")
    again = retry_headers(first, delivery=3, delay=60, origin="t/0/4", group="g")
    assert [key for key, _ in again][:1] == ["event_id"] and len(again) == 5
    meta = retry_meta(again)
    assert (meta.delivery, meta.origin, meta.group) == (3, "t/0/4", "g")
    assert meta.not_before > retry_meta(first).not_before + 30
    assert retry_meta([("other", b"x")]).delivery == 1
