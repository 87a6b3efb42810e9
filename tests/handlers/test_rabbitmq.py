"""RabbitMQForwardHandler against a real RabbitMQ broker on 127.0.0.1."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
from cloudevents.core.bindings import amqp
from cloudevents.core.formats.json import JSONFormat

from fastapi_events._event import Event
from fastapi_events.errors import ConfigurationError, RabbitMQDeliveryError
from fastapi_events.handlers.forwarder import RetryPolicy
from fastapi_events.handlers.rabbitmq import (
    RABBITMQ_INSTALL_HINT,
    RabbitMQForwardHandler,
)
from fastapi_events.serialization import CloudEventsFormat, SerializationError, decode
from tests.handlers.forwarders import forward
from tests.servers.rabbitmq_server import CLEANUP_TIMEOUT, Topology
from tests.servers.redis_server import free_port
from tests.servers.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

MakeHandler = Callable[..., RabbitMQForwardHandler]
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@pytest.fixture
async def make_handler(amqp_url: str) -> AsyncIterator[MakeHandler]:
    """Build handlers on the test broker; aclose() them at the test's end."""
    made: list[RabbitMQForwardHandler] = []

    def make(*args: Any, **options: Any) -> RabbitMQForwardHandler:
        options.setdefault("url", amqp_url)
        options.setdefault("retry", FAST)
        made.append(RabbitMQForwardHandler(*args, **options))
        return made[-1]

    yield make
    for handler in made:
        await asyncio.wait_for(handler.aclose(), CLEANUP_TIMEOUT)


def _spy(handler: RabbitMQForwardHandler) -> list[Event]:
    """Every event the handler encodes, in order."""
    seen: list[Event] = []
    encode = handler.encode

    def spy(event: Event) -> Any:
        seen.append(event)
        return encode(event)

    handler.encode = spy  # type: ignore[method-assign]
    return seen


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_importing_the_module_does_not_import_aio_pika() -> None:
    """`import fastapi_events.handlers.rabbitmq` leaves aio_pika and aiormq unimported."""
    code = (
        "import sys, fastapi_events.handlers.rabbitmq\n"
        "print([m for m in ('aio_pika', 'aiormq') if m in sys.modules])"
    )
    assert _run_python(code) == "[]"


def test_missing_aio_pika_says_how_to_install() -> None:
    """Without aio-pika, constructing the handler names the extra to install."""
    code = (
        "import sys\nsys.modules['aio_pika'] = None\n"
        "from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler\n"
        "try:\n    RabbitMQForwardHandler('k')\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert _run_python(code) == RABBITMQ_INSTALL_HINT
    assert "pip install 'fastapi-events[rabbitmq]'" in RABBITMQ_INSTALL_HINT


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("exchange_type", "nope"),
        ("exchange", None),
        ("url", ""),
        ("publish_timeout", 0),
        ("connect_timeout", True),
        ("max_batch_size", 0),
    ],
)
def test_options_are_checked(option: str, value: Any) -> None:
    """An out-of-range option fails at construction, naming the option."""
    with pytest.raises(ConfigurationError, match=option):
        RabbitMQForwardHandler("k", **{option: value})


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/shop"), CloudEventsFormat("/shop", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_messages_decode_back_to_the_events(
    rabbitmq: Topology, make_handler: MakeHandler, serializer: Any
) -> None:
    """The bound queue gets one message per event, in order; decode() restores name,
    payload and id."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange, "order.*")
    handler = make_handler(exchange=exchange, serializer=serializer)
    seen = _spy(handler)
    assert await forward(handler, [("order.placed", {"n": 1}), ("order.paid", [2])]) == []
    received = [decode(message) for message in await rabbitmq.messages(queue)]
    assert [(r.name, r.payload, r.id) for r in received] == [
        ("order.placed", {"n": 1}, seen[0].id),
        ("order.paid", [2], seen[1].id),
    ]


def _sdk_event(message: Any) -> Any:
    """Read a received message with the official SDK's CloudEvents AMQP binding."""
    wire = amqp.AMQPMessage(
        properties={"content-type": message.content_type},
        application_properties=dict(message.headers),
        application_data=message.body,
    )
    return amqp.from_amqp(wire, JSONFormat())


@pytest.mark.parametrize("mode", ["structured", "binary"])
async def test_the_cloudevents_sdk_reads_the_messages(
    rabbitmq: Topology, make_handler: MakeHandler, mode: Any
) -> None:
    """The cloudevents SDK's AMQP binding decodes both modes: id, type, source, data."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    handler = make_handler(exchange=exchange, serializer=CloudEventsFormat("/shop", mode=mode))
    seen = _spy(handler)
    assert await forward(handler, [("order.placed", {"n": 1})]) == []
    [message] = await rabbitmq.messages(queue)
    event = _sdk_event(message)
    attributes = event.get_attributes()
    assert (attributes["id"], attributes["type"], attributes["source"]) == (
        seen[0].id,
        "order.placed",
        "/shop",
    )
    assert event.get_data() == {"n": 1}


async def test_binary_cloudevents_follow_the_amqp_binding(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """Binary mode: cloudEvents_* headers, the data's media type as content_type."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    handler = make_handler(exchange=exchange, serializer=CloudEventsFormat("/shop", mode="binary"))
    event = Event("order.placed", {"n": 1}, correlation_id="req-7", trace_context=TRACE)
    await handler.handle_many([event])
    [message] = await rabbitmq.messages(queue)
    assert (message.body, message.content_type) == (b'{"n":1}', "application/json")
    assert message.headers["cloudEvents_id"] == event.id
    assert message.headers["cloudEvents_specversion"] == "1.0"
    assert message.headers["cloudEvents_correlationid"] == "req-7"
    assert message.headers["traceparent"] == TRACE["traceparent"]
    assert not [name for name in message.headers if name.startswith(("ce-", "ce_"))]


async def test_properties_and_headers_carry_the_metadata_not_the_payload(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """Persistent, message_id = event id, timestamp, content type, correlation id and
    trace context in properties/headers; the body is 0.12's array alone."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    handler = make_handler(exchange=exchange)
    event = Event("user.created", {"n": 1}, correlation_id="req-7", trace_context=TRACE)
    await handler.handle_many([event])
    [message] = await rabbitmq.messages(queue)
    assert message.body == b'["user.created",{"n":1}]'
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (message.message_id, message.correlation_id) == (event.id, "req-7")
    assert message.content_type == "application/json"
    assert timedelta(0) <= event.timestamp - message.timestamp < timedelta(seconds=1)
    assert message.headers == {
        "event_name": "user.created",
        "event_id": event.id,
        "event_time": f"{event.unix_time:.6f}",
        "content_type": "application/json",
        "correlation_id": "req-7",
        "traceparent": TRACE["traceparent"],
    }


async def test_a_correlation_id_too_long_for_the_property_stays_in_the_headers(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """AMQP's correlation_id holds 255 bytes: a longer id goes in the headers only."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    handler = make_handler(exchange=exchange, persistent=False)
    await handler.handle_many([Event("a", 1, correlation_id="c" * 300)])
    [message] = await rabbitmq.messages(queue)
    assert message.correlation_id is None
    assert message.headers["correlation_id"] == "c" * 300
    assert message.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT


async def test_the_routing_key_is_the_event_name_by_default(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """On a topic exchange, bindings select events by name; each queue keeps order."""
    exchange = await rabbitmq.exchange()
    orders = await rabbitmq.queue(exchange, "orders.*")
    users = await rabbitmq.queue(exchange, "users.#")
    handler = make_handler(exchange=exchange)
    events = [("orders.new", 1), ("users.new", 2), ("orders.paid", 3)]
    assert await forward(handler, events) == []
    assert [decode(m).payload for m in await rabbitmq.messages(orders)] == [1, 3]
    assert [decode(m).payload for m in await rabbitmq.messages(users)] == [2]


async def test_a_routing_function_or_a_fixed_key_routes_events(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """routing_key= a function of the event, or one key for every event (direct exchange)."""
    exchange = await rabbitmq.exchange(kind="direct")
    even, odd = await rabbitmq.queue(exchange, "even"), await rabbitmq.queue(exchange, "odd")
    routed = make_handler(
        lambda e: "even" if e.payload % 2 == 0 else "odd", exchange=exchange, exchange_type="direct"
    )
    fixed = make_handler("odd", exchange=exchange, exchange_type="direct")
    assert await forward(routed, [("n", 1), ("n", 2), ("n", 4)]) == []
    assert await forward(fixed, [("n", 6)]) == []
    assert [decode(m).payload for m in await rabbitmq.messages(even)] == [2, 4]
    assert [decode(m).payload for m in await rabbitmq.messages(odd)] == [1, 6]


async def test_an_unserialisable_event_fails_alone(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """A serializer failure is reported once; its siblings are published."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    failures = await forward(make_handler(exchange=exchange), [("a", 1), ("b", object()), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("b", SerializationError)]
    assert [decode(m).name for m in await rabbitmq.messages(queue)] == ["a", "c"]


async def test_an_unroutable_message_is_reported_once_and_not_retried(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """mandatory: RabbitMQ returns the event no queue is bound for; it alone is reported,
    at once (312 NO_ROUTE), and its siblings are delivered."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange, "good")
    handler = make_handler(lambda e: e.key.split(".")[0], exchange=exchange)
    sends = _count_sends(handler)
    failures = await forward(handler, [("good.a", 1), ("lost.b", {"secret": "s3"}), ("good.c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("lost.b", RabbitMQDeliveryError)]
    error = failures[0][2]
    assert isinstance(error, RabbitMQDeliveryError)
    assert (error.reason, error.reply_code, sends) == ("unroutable", 312, [2, 1])
    assert "'lost'" in str(error) and "s3" not in str(error)
    assert [decode(m).name for m in await rabbitmq.messages(queue)] == ["good.a", "good.c"]


def _count_sends(handler: RabbitMQForwardHandler) -> list[int]:
    """The size of every batch the handler sends."""
    sizes: list[int] = []
    send = handler.send

    async def counting(client: Any, destination: str, batch: Any) -> Any:
        sizes.append(len(batch))
        return await send(client, destination, batch)

    handler.send = counting  # type: ignore[method-assign]
    return sizes


async def test_without_mandatory_rabbitmq_drops_unroutable_messages(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """mandatory=False: an event no queue is bound for is confirmed and dropped."""
    exchange = await rabbitmq.exchange()
    handler = make_handler(exchange=exchange, mandatory=False)
    assert await forward(handler, [("nobody.listens", 1)]) == []


async def test_a_nacked_message_is_retried_then_reported_once(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """A full queue (x-overflow=reject-publish) nacks the third event: retried with
    backoff, then reported once; the first two are delivered."""
    exchange = await rabbitmq.exchange()
    args = {"x-max-length": 2, "x-overflow": "reject-publish"}
    queue = await rabbitmq.queue(exchange, **args)
    handler = make_handler("k", exchange=exchange)
    sends = _count_sends(handler)
    failures = await forward(handler, [("a", 1), ("b", 2), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("c", RabbitMQDeliveryError)]
    assert getattr(failures[0][2], "reason", None) == "nacked"
    assert sends == [3, 1, 1]  # FAST: three attempts for the nacked one
    assert [decode(m).name for m in await rabbitmq.messages(queue)] == ["a", "b"]


async def test_confirms_are_awaited_per_batch(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """max_batch_size messages are published, then confirmed, together."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    handler = make_handler(exchange=exchange, max_batch_size=4)
    sends = _count_sends(handler)
    assert await forward(handler, [("n", i) for i in range(10)]) == []
    assert sends == [4, 4, 2]
    assert [decode(m).payload for m in await rabbitmq.messages(queue)] == list(range(10))


async def test_the_handler_declares_its_exchange(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """At start-up the exchange is declared, durable, of the type given."""
    name = rabbitmq.exchange_name()
    await make_handler(exchange=name, exchange_type="fanout").astart()
    channel = await rabbitmq.channel()
    await channel.declare_exchange(name, "fanout", durable=True)  # the same: accepted
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
        await channel.declare_exchange(name, "topic", durable=True)


async def test_a_passive_exchange_that_is_missing_fails_every_event_and_the_health(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """passive=True never creates the exchange: each event is reported, health says why."""
    name = rabbitmq.exchange_name()
    handler = make_handler(exchange=name, passive=True)
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x).__name__) for e, _, x in failures] == [
        ("a", "ChannelNotFoundEntity"),
        ("b", "ChannelNotFoundEntity"),
    ]
    health = await handler.check_health()
    assert not health.healthy
    assert health.detail.startswith("ChannelNotFoundEntity")
    assert not await rabbitmq.exists(name)


async def test_the_default_exchange_routes_to_the_queue_named(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """exchange="": the routing key is a queue name; nothing is declared."""
    queue = await rabbitmq.queue()
    handler = make_handler(queue, exchange="")
    assert await forward(handler, [("a", 1)]) == []
    assert [decode(m).name for m in await rabbitmq.messages(queue)] == ["a"]
    assert (await handler.check_health()).healthy


async def test_a_connection_passed_in_is_used_and_left_open(
    rabbitmq: Topology, make_handler: MakeHandler, amqp_url: str
) -> None:
    """connection=: the handler publishes on its own channel and never closes it."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    connection = await aio_pika.connect(amqp_url)
    try:
        handler = make_handler(exchange=exchange, connection=connection, url="amqp://unused/")
        assert await forward(handler, [("a", 1)]) == []
        await handler.aclose()
        assert not connection.is_closed
    finally:
        await connection.close()
    assert [decode(m).name for m in await rabbitmq.messages(queue)] == ["a"]


async def test_rabbitmq_down_at_start_up_reports_every_event(make_handler: MakeHandler) -> None:
    """Nothing listens on the port: each event is reported once, after the retries."""
    handler = make_handler(url=f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [e.key for e, _, _ in failures] == ["a", "b"]
    assert all(isinstance(x, ConnectionError) for _, _, x in failures)


async def test_a_refused_login_is_reported_at_once(
    make_handler: MakeHandler, amqp_url: str
) -> None:
    """A wrong password is not retried: one connection attempt, each event reported."""
    parts = urlsplit(amqp_url)
    netloc = f"{parts.username}:wrong-password@{parts.hostname}:{parts.port or 5672}"
    handler = make_handler("k", url=parts._replace(netloc=netloc).geturl())
    connects: list[int] = []
    connect = handler.connect

    async def counting() -> Any:
        connects.append(1)
        return await connect()

    handler.connect = counting  # type: ignore[method-assign]
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x).__name__) for e, _, x in failures] == [
        ("a", "ProbableAuthenticationError"),
        ("b", "ProbableAuthenticationError"),
    ]
    assert connects == [1]
    assert "wrong-password" not in repr(failures)


async def test_a_routing_key_too_long_for_amqp_fails_alone(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """AMQP routing keys hold 255 bytes: a longer one fails its event only."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    handler = make_handler(lambda e: "k" * 256 if e.key == "long" else "k", exchange=exchange)
    failures = await forward(handler, [("a", 1), ("long", 2), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("long", ValueError)]
    assert [decode(m).name for m in await rabbitmq.messages(queue)] == ["a", "c"]


async def test_health_checks_the_broker_and_keeps_the_password_out(
    rabbitmq: Topology, make_handler: MakeHandler
) -> None:
    """check_health(): healthy on the broker; on a dead port unhealthy, no URL secret."""
    exchange = await rabbitmq.exchange()
    up = await make_handler("k", exchange=exchange).check_health()
    url = f"amqp://guest:s3cret@127.0.0.1:{free_port()}/"
    down = await make_handler(url=url).check_health()
    assert (up.healthy, up.detail) == (True, "ok")
    assert up.handler.endswith(f"RabbitMQForwardHandler({exchange}, k)")
    assert not down.healthy
    assert "s3cret" not in repr(down)


async def test_a_restart_mid_stream_loses_nothing_silently(
    rabbitmq: Topology, make_handler: MakeHandler, amqp_url: str
) -> None:
    """Broker gone between batches (a proxy cut): those events are reported; once it is
    back the forwarder reconnects. Each event is delivered or reported, never both."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    proxy = await TcpProxy(_port(amqp_url)).start()
    try:
        handler = make_handler(exchange=exchange, url=proxy.url_for(amqp_url))
        seen = _spy(handler)
        first = await forward(handler, [("before", 1)])
        await proxy.cut()
        during = await forward(handler, [("during", 2), ("during", 3)])
        await proxy.restore()
        after = await forward(handler, [("after", 4)])
    finally:
        await proxy.close()
    delivered = [m.message_id for m in await rabbitmq.messages(queue)]
    reported = [e.id for e, _, _ in during]
    assert (first, after) == ([], [])
    assert [e.key for e, _, _ in during] == ["during", "during"]
    assert all(isinstance(x, ConnectionError) for _, _, x in during)
    assert delivered == [seen[0].id, seen[-1].id]
    assert sorted(delivered + reported) == sorted(e.id for e in seen)


async def test_a_connection_lost_before_the_confirms_is_retried_on_a_new_one(
    rabbitmq: Topology, make_handler: MakeHandler, amqp_url: str
) -> None:
    """Connection reset with publishes on the wire: the batch is sent again on a new
    connection; every event arrives (de-duplicated by message_id), none is reported."""
    exchange = await rabbitmq.exchange()
    queue = await rabbitmq.queue(exchange)
    proxy = await TcpProxy(_port(amqp_url)).start()
    try:
        handler = make_handler(exchange=exchange, url=proxy.url_for(amqp_url))
        seen = _spy(handler)
        await handler.astart()
        proxy.hold()  # the confirms do not come back
        sending = asyncio.ensure_future(forward(handler, [("n", i) for i in range(5)]))
        await proxy.client_bytes.wait()  # a publish is on the wire
        await proxy.cut()
        await proxy.restore()
        failures = await sending
    finally:
        await proxy.close()
    delivered = {m.message_id for m in await rabbitmq.messages(queue)}
    assert failures == []
    assert delivered == {e.id for e in seen}


def _port(url: str) -> int:
    return urlsplit(url).port or 5672
