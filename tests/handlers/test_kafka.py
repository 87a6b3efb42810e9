"""KafkaForwardHandler against a real Kafka-compatible broker (Tansu) on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiokafka
import aiokafka.errors
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.forwarder import RetryPolicy
from fastapi_events.handlers.kafka import KAFKA_INSTALL_HINT, KafkaForwardHandler
from fastapi_events.serialization import CloudEventsFormat, SerializationError, decode
from tests.accounting import Ledger
from tests.servers.kafka_server import KafkaTopics, TansuProcess
from tests.servers.redis_server import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

Failure = tuple[Event, object, BaseException]
MakeHandler = Callable[..., KafkaForwardHandler]
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
async def make_handler(kafka_bootstrap: str) -> AsyncIterator[MakeHandler]:
    """Build handlers on the test broker; aclose() them at the test's end. Not idempotent:
    Tansu refuses aiokafka's InitProducerId v0 (see the idempotence test)."""
    made: list[KafkaForwardHandler] = []

    def make(topic: Any, **options: Any) -> KafkaForwardHandler:
        options.setdefault("bootstrap_servers", kafka_bootstrap)
        options.setdefault("idempotent", False)
        options.setdefault("retry", FAST)
        made.append(KafkaForwardHandler(topic, **options))
        return made[-1]

    yield make
    for handler in made:
        await handler.aclose()


async def forward(handler: KafkaForwardHandler, events: list[tuple[str, Any]]) -> list[Failure]:
    """Dispatch ``events`` in one scope (one batch); return what reached the error hook."""
    failures: list[Failure] = []
    async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
        for name, payload in events:
            dispatch(name, payload)
    return failures


def headers(record: Any) -> dict[str, bytes]:
    """A record's headers as a dict."""
    return dict(record.headers)


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_importing_the_module_does_not_import_aiokafka() -> None:
    """`import fastapi_events.handlers.kafka` leaves aiokafka unimported."""
    code = "import sys, fastapi_events.handlers.kafka\nprint('aiokafka' in sys.modules)"
    assert _run_python(code) == "False"


def test_missing_aiokafka_says_how_to_install() -> None:
    """Without aiokafka, constructing the handler names the extra to install."""
    code = (
        "import sys\nsys.modules['aiokafka'] = None\n"
        "from fastapi_events.handlers.kafka import KafkaForwardHandler\n"
        "try:\n    KafkaForwardHandler('t')\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert _run_python(code) == KAFKA_INSTALL_HINT
    assert "pip install 'fastapi-events[kafka]'" in KAFKA_INSTALL_HINT


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"key": 3}, "key"),
        ({"headers": [("a", "b")]}, "headers"),
        ({"linger_ms": -1}, "linger_ms"),
        ({"request_timeout_ms": 0}, "request_timeout_ms"),
        ({"producer_options": {"value_serializer": str}}, "value_serializer"),
        ({"producer_options": {"acks": 1}}, "acks='all'"),
    ],
)
def test_options_are_checked(options: dict[str, Any], named: str) -> None:
    """A bad key, headers, timing or producer option is refused at construction."""
    with pytest.raises(ConfigurationError, match=named):
        KafkaForwardHandler("t", **options)


def test_the_producer_is_idempotent_with_acks_all_and_lingers_by_default() -> None:
    """Defaults: enable_idempotence, acks=all, linger 5 ms; producer_options override them."""
    config = KafkaForwardHandler("t").producer_config
    assert (config["enable_idempotence"], config["acks"], config["linger_ms"]) == (True, "all", 5)
    tuned = KafkaForwardHandler(
        "t", idempotent=False, producer_options={"acks": 1, "compression_type": "gzip"}
    ).producer_config
    assert (tuned["enable_idempotence"], tuned["acks"], tuned["compression_type"]) == (
        False,
        1,
        "gzip",
    )


async def test_an_idempotent_producer_delivers(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """The default producer (idempotent) delivers, on a broker that supports it."""
    topic = await kafka_topic.make()
    handler = make_handler(topic, idempotent=True)
    try:
        await handler.get_client()
    except aiokafka.errors.UnknownError:
        pytest.skip("this broker (Tansu) refuses aiokafka's idempotent producer (InitProducerId)")
    assert await forward(handler, [("a", 1)]) == []
    assert [decode(r).name for r in await kafka_topic.read(topic, 1)] == ["a"]


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/shop"), CloudEventsFormat("/shop", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_records_decode_back_to_the_events(
    make_handler: MakeHandler, kafka_topic: KafkaTopics, serializer: Any
) -> None:
    """One record per event, in order; decode() restores name, payload and id."""
    topic = await kafka_topic.make()
    handler = make_handler(topic, serializer=serializer)
    seen: list[Event] = []
    handler.encode = _spy(handler.encode, seen)  # type: ignore[method-assign]
    assert await forward(handler, [("order.placed", {"n": 1}), ("order.paid", [2])]) == []
    received = [decode(record) for record in await kafka_topic.read(topic, 2)]
    assert [(r.name, r.payload, r.id) for r in received] == [
        ("order.placed", {"n": 1}, seen[0].id),
        ("order.paid", [2], seen[1].id),
    ]


def _spy(encode: Any, seen: list[Event]) -> Any:
    def spy(event: Event) -> Any:
        seen.append(event)
        return encode(event)

    return spy


@pytest.mark.parametrize("mode", ["structured", "binary"])
async def test_cloudevents_follow_the_kafka_protocol_binding(
    make_handler: MakeHandler, kafka_topic: KafkaTopics, mode: Any
) -> None:
    """The official CloudEvents SDK reads each record (ce_* headers in binary mode, the
    envelope and its content-type header in structured mode); partitionkey is the key."""
    topic = await kafka_topic.make()
    handler = make_handler(topic, serializer=CloudEventsFormat("/shop", mode=mode))
    event = Event("order.placed", {"n": 1}, correlation_id="req-7")
    await handler.handle_many([event])
    [record] = await kafka_topic.read(topic, 1)
    cloud_event = from_kafka(KafkaMessage(headers(record), record.key, record.value), JSONFormat())
    assert (cloud_event.get_type(), cloud_event.get_source()) == ("order.placed", "/shop")
    assert (cloud_event.get_id(), cloud_event.get_data()) == (event.id, {"n": 1})
    assert cloud_event.get_extension("partitionkey") == "req-7"
    if mode == "binary":
        assert headers(record)["ce_specversion"] == b"1.0"
        assert headers(record)["ce_correlationid"] == b"req-7"
    else:
        assert headers(record)["content-type"] == b"application/cloudevents+json"


async def test_metadata_travel_in_headers_never_in_the_payload(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """The value is 0.12's array; name, id, content type, correlation id and trace context
    are headers, extra headers= beside them (ours win); the timestamp is the dispatch's."""
    topic = await kafka_topic.make()
    extra = {"tenant": "acme", "event_name": "spoofed"}
    handler = make_handler(topic, headers=lambda event: extra)
    event = Event("a", 1, correlation_id="req-1", trace_context={"traceparent": TRACEPARENT})
    await handler.handle_many([event])
    [record] = await kafka_topic.read(topic, 1)
    assert record.value == b'["a",1]'
    assert headers(record) == {
        "tenant": b"acme",
        "event_name": b"a",
        "event_id": event.id.encode(),
        "event_time": f"{event.unix_time:.6f}".encode(),
        "content_type": b"application/json",
        "correlation_id": b"req-1",
        "traceparent": TRACEPARENT.encode(),
        "content-type": b"application/json",
    }
    assert record.timestamp == int(event.unix_time * 1000)
    assert decode(record).trace_context == {"traceparent": TRACEPARENT}


async def test_a_requests_events_are_keyed_by_its_correlation_id(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """With a correlation id, it is every record's key: one partition, dispatch order."""
    topic = await kafka_topic.make(partitions=4)
    handler = make_handler(topic)
    await handler.handle_many([Event("n", i, correlation_id="req-1") for i in range(6)])
    records = await kafka_topic.read(topic, 6)
    assert {(r.key, r.partition) for r in records} == {(b"req-1", records[0].partition)}
    assert [decode(r).payload for r in records] == list(range(6))


async def test_without_a_correlation_id_each_request_has_its_own_key(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """The key is the id of the request's first event: shared by that request's events
    (one partition, in order), different for the next request."""
    topic = await kafka_topic.make(partitions=4)
    handler = make_handler(topic)
    first = [Event("first", i) for i in range(3)]
    second = [Event("second", i) for i in range(3)]
    await handler.handle_many(first)
    await handler.handle_many(second)
    records = await kafka_topic.read(topic, 6)
    by_key: dict[bytes, list[Any]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(decode(record))
    assert set(by_key) == {first[0].id.encode(), second[0].id.encode()}
    assert [(e.name, e.payload) for e in by_key[first[0].id.encode()]] == [
        ("first", 0),
        ("first", 1),
        ("first", 2),
    ]
    assert [e.payload for e in by_key[second[0].id.encode()]] == [0, 1, 2]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("orders", [b"orders", b"orders"]),
        (b"raw", [b"raw", b"raw"]),
        (lambda event: event.key, [b"a", b"b"]),
        (lambda event: None, [None, None]),
    ],
    ids=["str", "bytes", "function", "no-key"],
)
async def test_key_is_a_constant_or_a_function_of_the_event(
    make_handler: MakeHandler, kafka_topic: KafkaTopics, key: Any, expected: list[Any]
) -> None:
    """key= replaces the default: a str or bytes for all, or event -> key (None: unkeyed)."""
    topic = await kafka_topic.make()
    assert await forward(make_handler(topic, key=key), [("a", 1), ("b", 2)]) == []
    assert [r.key for r in await kafka_topic.read(topic, 2)] == expected


async def test_a_key_function_giving_a_wrong_type_fails_its_event_alone(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """A key function's int is reported for that event; the others are sent."""
    topic = await kafka_topic.make()
    handler = make_handler(topic, key=lambda event: 7 if event.key == "bad" else "k")
    failures = await forward(handler, [("a", 1), ("bad", 2), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", ConfigurationError)]
    assert [decode(r).name for r in await kafka_topic.read(topic, 2)] == ["a", "c"]


async def test_each_event_goes_to_the_topic_its_function_names(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """A topic function routes each event; each topic keeps dispatch order."""
    topics = {"orders": await kafka_topic.make("orders"), "users": await kafka_topic.make("users")}
    handler = make_handler(lambda event: topics[event.key.split(".")[0]])
    assert await forward(handler, [("orders.new", 1), ("users.new", 2), ("orders.paid", 3)]) == []
    assert [decode(r).payload for r in await kafka_topic.read(topics["orders"], 2)] == [1, 3]
    assert [decode(r).payload for r in await kafka_topic.read(topics["users"], 1)] == [2]


async def test_an_unserialisable_event_fails_alone(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """A serializer failure is reported once; its siblings are produced."""
    topic = await kafka_topic.make()
    failures = await forward(make_handler(topic), [("a", 1), ("bad", object()), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", SerializationError)]
    assert [decode(r).name for r in await kafka_topic.read(topic, 2)] == ["a", "c"]


async def test_a_record_the_producer_refuses_is_reported_once_and_not_retried(
    make_handler: MakeHandler, kafka_topic: KafkaTopics
) -> None:
    """A record over max_request_size fails that event only, at once; siblings are sent."""
    topic = await kafka_topic.make()
    handler = make_handler(topic, producer_options={"max_request_size": 2000})
    sends: list[int] = []
    send = handler.send

    async def counting(client: Any, destination: str, batch: Any) -> Any:
        sends.append(len(batch))
        return await send(client, destination, batch)

    handler.send = counting  # type: ignore[method-assign]
    failures = await forward(handler, [("a", 1), ("big", "x" * 5000), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("big", aiokafka.errors.MessageSizeTooLargeError)
    ]
    assert sends == [3]
    assert [decode(r).name for r in await kafka_topic.read(topic, 2)] == ["a", "c"]


async def test_a_producer_passed_in_is_used_and_left_running(
    make_handler: MakeHandler, kafka_topic: KafkaTopics, kafka_bootstrap: str
) -> None:
    """producer= is the one every record goes through; aclose() does not stop it."""
    sent: list[str] = []

    class Counting(aiokafka.AIOKafkaProducer):  # type: ignore[misc]
        async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
            sent.append(topic)
            return await super().send(topic, *args, **kwargs)

    producer = Counting(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        topic = await kafka_topic.make()
        handler = make_handler(topic, producer=producer, max_batch_size=2)
        assert await forward(handler, [("n", i) for i in range(5)]) == []
        await handler.aclose()
        await producer.send_and_wait(topic, b"still open")
    finally:
        await producer.stop()
    assert (sent, len(await kafka_topic.read(topic, 6))) == ([topic] * 6, 6)


async def test_kafka_down_at_start_up_reports_every_event(make_handler: MakeHandler) -> None:
    """Nothing listens on the port: each event is reported once, after the retries."""
    handler = make_handler("t", bootstrap_servers=f"127.0.0.1:{free_port()}")
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("a", aiokafka.errors.KafkaConnectionError),
        ("b", aiokafka.errors.KafkaConnectionError),
    ]


async def test_health_fetches_metadata_from_the_broker(make_handler: MakeHandler) -> None:
    """check_health(): healthy on the broker; on a dead port unhealthy, naming the error."""
    up = await make_handler("events").check_health()
    down = await make_handler("events", bootstrap_servers=f"127.0.0.1:{free_port()}").check_health()
    assert (up.healthy, up.detail) == (True, "ok")
    assert up.handler.endswith("KafkaForwardHandler(events)")
    assert not down.healthy
    assert down.detail.startswith("KafkaConnectionError")


async def test_a_restart_mid_stream_gives_each_event_exactly_one_outcome(
    make_handler: MakeHandler,
) -> None:
    """Broker stopped between batches: those events are reported after the retries; once it
    is back (empty: the topic made again), the same producer delivers. By event id, each
    event is delivered or reported, never both, never twice."""
    server = TansuProcess().start()
    topics = KafkaTopics(server.bootstrap)
    ledger = Ledger()
    handler = make_handler(
        "restart",
        bootstrap_servers=server.bootstrap,
        request_timeout_ms=300,
        retry=RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.01),
    )

    async def run(count: int) -> None:
        async with event_scope(handlers=[handler], on_error=ledger.on_error):
            for i in range(count):
                dispatch("n", i)

    try:
        await topics.create("restart")
        await run(3)
        ledger.handled += [decode(r).id for r in await topics.read("restart", 3)]
        server.stop()
        await run(2)
        server.start()  # same port, empty (memory storage)
        await topics.create("restart")
        await run(4)
        ledger.handled += [decode(r).id for r in await topics.read("restart", 4)]
        await handler.aclose()
    finally:
        server.close()
    ledger.assert_exact(9)
    assert len(ledger.reported) == 2
    assert all(issubclass(error, aiokafka.errors.KafkaError) for _, _, error in ledger.reported)
