"""NATSConsumer against a real NATS server with JetStream on 127.0.0.1 (a stream of its own
per test, deleted after it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.consumers import UNDECODABLE_EVENT, NATSConsumer
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.nats import NATSForwardHandler
from fastapi_events.serialization import CloudEventsFormat, MessageFormat
from tests.accounting import Ledger
from tests.consumers.kit import scripted, until
from tests.servers.nats_server import Stream

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

MakeStream = Callable[..., Any]
DURABLE = "workers"
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A client of the test server."""
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
def js(nc: Any) -> Any:
    """A JetStream context on the test server, to publish and look at consumers."""
    return nc.jetstream()


def consumer_for(stream: Stream, url: str, handlers: list[Any], **options: Any) -> NATSConsumer:
    """A consumer of ``stream`` with short pulls and immediate retries."""
    options.setdefault("backoff", 0)
    options.setdefault("fetch_wait", 0.2)
    options.setdefault("durable", DURABLE)
    return NATSConsumer(stream.name, handlers=handlers, url=url, **options)


async def forward(
    stream: Stream, url: str, events: list[Event], serializer: MessageFormat | None = None
) -> None:
    """Publish ``events`` to ``<stream>.orders`` with the NATS forwarder."""
    forwarder = NATSForwardHandler(stream.subject("orders"), url=url, serializer=serializer)
    failures: list[Any] = []
    async with event_scope(handlers=[forwarder], on_error=lambda *f: failures.append(f)) as buf:
        for event in events:
            buf.add(event)
    await forwarder.aclose()
    assert failures == []


async def unsettled(js: Any, stream: Stream) -> tuple[int, int]:
    """(waiting for a first delivery, delivered and not acknowledged) messages."""
    info = await js.consumer_info(stream.name, DURABLE)
    return info.num_pending, info.num_ack_pending


def order(i: int, **metadata: Any) -> Event:
    return Event("order.paid", {"order": i}, **metadata)


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/orders"), CloudEventsFormat("/orders", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_every_body_comes_back_as_the_dispatched_event(
    nats_url: str, nats_stream: MakeStream, js: Any, serializer: MessageFormat | None
) -> None:
    """Id, name, payload, correlation id and trace context survive the stream; acked."""
    stream = await nats_stream()
    sent = [order(i, correlation_id="corr-1", trace_context=TRACE) for i in range(3)]
    await forward(stream, nats_url, sent, serializer)
    handler, calls = scripted()
    async with consumer_for(stream, nats_url, [handler]):
        await until(lambda: len(calls.finished) == 3)
    got = [(e.id, e.name, e.payload, e.correlation_id) for e in calls.finished]
    assert sorted(got) == sorted((e.id, "order.paid", e.payload, "corr-1") for e in sent)
    assert all(dict(e.trace_context or {}) == TRACE for e in calls.finished)
    if serializer is not None:  # CloudEvents carry the dispatch time itself
        assert {e.timestamp for e in calls.finished} == {e.timestamp for e in sent}
    assert await unsettled(js, stream) == (0, 0)


async def test_a_message_without_an_event_id_is_known_by_its_msg_id_or_sequence(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """Other publishers' events get the Nats-Msg-Id, else the stream sequence, as id."""
    stream = await nats_stream()
    body = json.dumps(["order.paid", {"order": 1}]).encode()
    await js.publish(stream.subject("orders"), body, headers={"Nats-Msg-Id": "order%201"})
    await js.publish(stream.subject("orders"), body)
    handler, calls = scripted()
    async with consumer_for(stream, nats_url, [handler]):
        await until(lambda: len(calls.finished) == 2)
    assert sorted(e.id for e in calls.finished) == ["2", "order 1"]


async def test_a_partial_failure_acknowledges_only_the_successes(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """Two of five fail: three are acked, two wait for their delayed redelivery."""
    stream = await nats_stream()
    await forward(stream, nats_url, [order(i) for i in range(5)])
    handler, calls = scripted(lambda event: 9 if event.payload["order"] in (1, 3) else 0)
    consumer = consumer_for(stream, nats_url, [handler], backoff=60, concurrency=5)
    async with consumer:
        await until(lambda: len(calls.started) == 5)
    assert sorted(e.payload["order"] for e in calls.finished) == [0, 2, 4]
    assert await unsettled(js, stream) == (0, 2)
    assert (consumer.stats.succeeded, consumer.stats.retried) == (3, 2)


async def test_failing_twice_then_succeeding_is_handled_once_after_two_naks(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """Each failure naks the message; the server's third delivery succeeds."""
    stream = await nats_stream()
    sent = order(7)
    await forward(stream, nats_url, [sent])
    handler, calls = scripted(2)
    consumer = consumer_for(stream, nats_url, [handler], backoff=0.05)
    async with consumer:
        await until(lambda: calls.finished)
    assert calls.count(sent.id) == 3
    assert calls.finished_ids == {sent.id: 1}
    assert (consumer.stats.received, consumer.stats.retried, consumer.stats.succeeded) == (3, 2, 1)
    assert await unsettled(js, stream) == (0, 0)


async def test_always_failing_is_dead_lettered_after_max_deliveries_then_terminated(
    nats_url: str, nats_stream: MakeStream, nc: Any, js: Any
) -> None:
    """Three deliveries, then the dead-letter handler once, and +TERM (an advisory says
    so): by event id, every event handled or dead-lettered, none both."""
    stream = await nats_stream()
    sent = [order(i) for i in range(4)]
    failing = {sent[1].id, sent[3].id}
    await forward(stream, nats_url, sent)
    terminated: list[Any] = []
    advisories = f"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{stream.name}.{DURABLE}"

    async def on_advisory(msg: Any) -> None:
        terminated.append(msg)

    listener = await nc.subscribe(advisories, cb=on_advisory)
    handler, calls = scripted(lambda event: 99 if event.id in failing else 0)
    dead, buried = scripted()
    ledger = Ledger()
    consumer = consumer_for(
        stream, nats_url, [handler], max_deliveries=3, dead_letter=dead, on_error=ledger.on_error
    )
    async with consumer:
        await until(lambda: len(buried.finished) == 2 and len(calls.finished) == 2)
        await until(lambda: len(terminated) == 2, "the MSG_TERMINATED advisories")
    await listener.unsubscribe()
    ledger.handled = [e.id for e in calls.finished]
    ledger.assert_exact(dispatched=4)
    assert sorted(ledger.reported_ids()) == sorted(failing)
    assert sorted(e.id for e in buried.finished) == sorted(failing)
    assert all(calls.count(event_id) == 3 for event_id in failing)
    assert consumer.stats.dead_lettered == 2
    assert await unsettled(js, stream) == (0, 0)


async def test_stop_mid_batch_naks_the_unfinished_and_a_restart_gets_them(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """Stopped while handling: what finished is acked, what did not is given back (never
    acked) and comes to the next worker of the durable; by event id, nothing lost."""
    stream = await nats_stream()
    sent = [order(i) for i in range(6)]
    stuck = {sent[0].id, sent[1].id}
    await forward(stream, nats_url, sent)
    handler, started, finished = LocalHandler(), [], []

    @handler.register
    async def work(event: Event) -> None:
        started.append(event.id)
        if event.id in stuck:
            await asyncio.Event().wait()  # past any shutdown timeout
        finished.append(event.id)

    consumer = consumer_for(stream, nats_url, [handler], concurrency=6)
    await consumer.start()
    await until(lambda: len(finished) == 4 and len(started) == 6)
    await consumer.stop(timeout=0.2)
    assert consumer.stats.released == 2
    assert set(finished) == {e.id for e in sent} - stuck
    second, second_calls = scripted()
    async with consumer_for(stream, nats_url, [second]):
        await until(lambda: len(second_calls.finished) == 2)
    ledger = Ledger()
    ledger.handled = finished + [e.id for e in second_calls.finished]
    ledger.assert_exact(dispatched=6)
    assert {e.id for e in second_calls.finished} == stuck
    assert await unsettled(js, stream) == (0, 0)


async def test_handling_longer_than_ack_wait_is_kept_in_progress(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """In-progress acks (every ack_wait/3) keep a long handler's message from being
    delivered again (ack_wait 1 s, handling 2 s)."""
    stream = await nats_stream()
    await forward(stream, nats_url, [order(1)])
    handler, calls = scripted(delay=2.0)
    consumer = consumer_for(stream, nats_url, [handler], ack_wait=1.0)
    async with consumer:
        await until(lambda: calls.finished)
    assert (consumer.stats.received, len(calls.started)) == (1, 1)
    assert await unsettled(js, stream) == (0, 0)


async def test_a_message_that_is_no_event_reaches_the_dead_letter_handler(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """A foreign body is dead-lettered at once, its raw body and headers kept."""
    stream = await nats_stream()
    await js.publish(stream.subject("raw"), b"not json at all", headers={"Source": "a b"})
    handler, calls = scripted()
    dead, buried = scripted()
    consumer = consumer_for(stream, nats_url, [handler], dead_letter=dead)
    async with consumer:
        await until(lambda: buried.finished)
    [stand_in] = buried.finished
    assert (stand_in.name, stand_in.payload["body"]) == (UNDECODABLE_EVENT, "not json at all")
    assert stand_in.payload["attributes"]["Source"] == "a b"
    assert calls.started == []
    assert await unsettled(js, stream) == (0, 0)


async def test_deduplicate_acknowledges_a_second_copy_unhandled(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """The same event published twice (past the stream's duplicate window) is handled once."""
    stream = await nats_stream()
    sent = order(3)
    await forward(stream, nats_url, [sent])
    [stored] = [await js.get_msg(stream.name, 1)]
    headers = {**(stored.headers or {}), "Nats-Msg-Id": "another-copy"}
    await js.publish(stream.subject("orders"), stored.data, headers=headers)
    handler, calls = scripted()
    consumer = consumer_for(stream, nats_url, [handler], deduplicate=True, concurrency=1)
    async with consumer:
        await until(lambda: consumer.stats.duplicates == 1)
    assert calls.count(sent.id) == 1
    assert await unsettled(js, stream) == (0, 0)


async def test_concurrency_bounds_the_messages_pulled(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """With concurrency=2, two messages are pulled and handled at a time, no more."""
    stream = await nats_stream()
    await forward(stream, nats_url, [order(i) for i in range(6)])
    gate = asyncio.Event()
    handler, calls = scripted(gate=gate)
    consumer = consumer_for(stream, nats_url, [handler], concurrency=2)
    async with consumer:
        await until(lambda: len(calls.started) == 2)
        await asyncio.sleep(0.3)  # room for a wrong third pull to show up
        assert (len(calls.started), consumer.stats.received) == (2, 2)
        assert await unsettled(js, stream) == (4, 2)
        gate.set()
        await until(lambda: len(calls.finished) == 6)
    assert await unsettled(js, stream) == (0, 0)


async def test_handler_spans_link_to_the_producer(nats_url: str, nats_stream: MakeStream) -> None:
    """With a tracer provider, each handler span links to the dispatch span's context."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    stream = await nats_stream()
    await forward(stream, nats_url, [order(1, trace_context=TRACE)])
    handler, calls = scripted()
    async with consumer_for(stream, nats_url, [handler], tracer_provider=provider):
        await until(lambda: calls.finished)
    [span] = [s for s in exporter.get_finished_spans() if s.name == "process order.paid"]
    [link] = span.links
    assert f"{link.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{link.context.span_id:016x}" == "b7ad6b7169203331"


async def test_fastapi_lifespan_consumes_while_the_app_runs(
    nats_url: str, nats_stream: MakeStream
) -> None:
    """FastAPI(lifespan=consumer.lifespan) consumes from startup to shutdown."""
    from fastapi import FastAPI

    stream = await nats_stream()
    await forward(stream, nats_url, [order(1)])
    handler, calls = scripted()
    consumer = consumer_for(stream, nats_url, [handler])
    app = FastAPI(lifespan=consumer.lifespan)
    async with app.router.lifespan_context(app):
        await until(lambda: calls.finished)
        assert consumer.running
    assert not consumer.running


async def test_an_existing_consumer_is_used_and_must_ack_explicitly(
    nats_url: str, nats_stream: MakeStream, js: Any
) -> None:
    """A durable created elsewhere is joined; one without explicit acks is refused."""
    stream = await nats_stream()
    config = ConsumerConfig(durable_name="noack", ack_policy=AckPolicy.NONE)
    await js.add_consumer(stream.name, config)
    consumer = consumer_for(stream, nats_url, [scripted()[0]], durable="noack")
    with pytest.raises(ConfigurationError, match="explicit"):
        await consumer.start()
    assert not consumer.running


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("stream", ""),
        ("stream", 5),
        ("durable", "a.b"),
        ("durable", None),
        ("subject", 3),
        ("ack_wait", 0),
        ("fetch_wait", -1),
        ("url", b"nats://x"),
        ("consumer_config", {"no_such_field": 1}),
        ("consumer_config", [("max_ack_pending", 1)]),
        ("concurrency", 0),
    ],
)
def test_bad_arguments_are_refused_at_construction(option: str, value: object) -> None:
    """Each bad argument fails with a ConfigurationError naming it."""
    arguments: dict[str, Any] = {"stream": "ORDERS", "durable": "w", option: value}
    with pytest.raises(ConfigurationError, match=option):
        NATSConsumer(handlers=[scripted()[0]], **arguments)


async def test_consuming_goes_on_after_the_server_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server restart (streams kept on disk) mid-consumption: the client reconnects (and
    says so), pulls again, and every event is handled exactly once."""
    from tests.servers.nats_server import NatsProcess

    server = NatsProcess().start()
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        stream = Stream("FE_TEST_RESTART")
        await js.add_stream(name=stream.name, subjects=[f"{stream.name}.>"])
        await nc.close()
        first, second = [order(1)], [order(2)]
        await forward(stream, server.url, first)
        handler, calls = scripted()
        consumer = consumer_for(stream, server.url, [handler])
        async with consumer:
            await until(lambda: len(calls.finished) == 1)
            server.stop()
            await asyncio.sleep(0.3)  # pulls fail meanwhile: logged, tried again
            server.start()
            await forward(stream, server.url, second)
            await until(lambda: len(calls.finished) == 2, "handling after the restart")
        assert calls.finished_ids == {first[0].id: 1, second[0].id: 1}
        said = [r.getMessage() for r in caplog.records if r.name == "fastapi_events.consumers.nats"]
        assert any(message.endswith("reconnected to NATS") for message in said)
    finally:
        server.close()
