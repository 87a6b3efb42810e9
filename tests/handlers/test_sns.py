"""SNSForwardHandler against moto's SNS on 127.0.0.1 through real boto3, read back from an
SQS queue subscribed to each topic."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from botocore.config import Config

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import AWSDeliveryError, ConfigurationError
from fastapi_events.handlers import aws
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.handlers.sns import RetryPolicy, SNSDeliveryError, SNSForwardHandler
from fastapi_events.serialization import CloudEventsFormat, SerializationError, decode
from tests.leaks import assert_not_leaked, secret
from tests.servers.redis_server import free_port
from tests.servers.sns import MotoProcess, SNSProxy, SNSTopic
from tests.servers.sqs import REGION

pytestmark = pytest.mark.anyio

Failure = tuple[Event, object, BaseException]
MakeHandler = Callable[..., SNSForwardHandler]
MakeTopic = Callable[..., SNSTopic]
NO_BOTO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
ARN = "arn:aws:sns:us-east-1:123456789012:orders"
#: PublishBatch sizes when the 5th of 10 entries makes SNS reject every part holding it:
#: [0-9] ✗, [0-4] ✗, [0-1] ✓, [2-4] ✗, [2] ✓, [3-4] ✗, [3] ✓, [4] ✗, [5-9] ✓.
SPLIT_SENDS = [10, 5, 2, 3, 1, 2, 1, 1, 5]


@pytest.fixture
async def make_handler() -> AsyncIterator[MakeHandler]:
    """Build handlers for a test and aclose() them at its end."""
    made: list[SNSForwardHandler] = []

    def make(topic_arn: Any, endpoint: str, **options: Any) -> SNSForwardHandler:
        options.setdefault("retry", FAST)
        made.append(SNSForwardHandler(topic_arn, REGION, endpoint_url=endpoint, **options))
        return made[-1]

    yield make
    for handler in made:
        await handler.aclose()


async def forward(handler: SNSForwardHandler, events: Iterable[tuple[str, Any]]) -> list[Failure]:
    """Dispatch ``events`` in one scope (one batch); return what reached the error hook."""
    failures: list[Failure] = []
    async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
        for name, payload in events:
            dispatch(name, payload)
    return failures


def bodies(messages: list[dict[str, Any]]) -> list[Any]:
    return [json.loads(m["Body"]) for m in messages]


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


# --- construction ------------------------------------------------------------------------


def test_importing_the_module_does_not_import_boto3() -> None:
    """`import fastapi_events.handlers.sns` loads neither boto3 nor botocore."""
    code = "import sys, fastapi_events.handlers.sns\nprint('boto' in str(sorted(sys.modules)))"
    assert _run_python(code) == "False"


def test_missing_boto3_says_how_to_install() -> None:
    """Without boto3, constructing the handler names the aws extra."""
    code = (
        "import sys\nsys.modules['boto3'] = None\n"
        "from fastapi_events.handlers.sns import SNSForwardHandler\n"
        f"try:\n    SNSForwardHandler({ARN!r})\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert _run_python(code) == aws.AWS_INSTALL_HINT
    assert "pip install 'fastapi-events[aws]'" in aws.AWS_INSTALL_HINT


def test_the_handler_is_importable_from_handlers_aws() -> None:
    """aws.SNSForwardHandler is the SNS handler; its error is an AWSDeliveryError."""
    assert aws.SNSForwardHandler is SNSForwardHandler
    assert issubclass(SNSDeliveryError, AWSDeliveryError)
    assert not issubclass(SNSDeliveryError, aws.SQSDeliveryError)


@pytest.mark.parametrize(
    ("arn", "options", "expected"),
    [
        (ARN, {"max_batch_size": 11}, r"between 1 and 10 \(SNS limit\)"),
        (ARN, {"max_bytes": 1023}, "262144"),
        (ARN, {"max_bytes": 1024 * 1024 + 1}, "SNS limit"),
        (ARN + ".fifo", {}, "is a FIFO topic: pass message_group_id="),
        (ARN, {"message_group_id": "g"}, "applies to FIFO topics"),
        ("", {}, "topic_arn must be"),
    ],
)
def test_options_are_checked(arn: str, options: dict[str, Any], expected: str) -> None:
    """Limits, the FIFO group and the ARN are checked at construction, naming the fix."""
    with pytest.raises(ConfigurationError, match=expected):
        SNSForwardHandler(arn, **options)


def test_the_region_comes_from_a_fixed_topic_arn() -> None:
    """Without region_name, the ARN's region is used; region_name wins."""
    assert SNSForwardHandler("arn:aws:sns:eu-west-3:1:t").region_name == "eu-west-3"
    assert SNSForwardHandler("arn:aws:sns:eu-west-3:1:t", "us-east-2").region_name == "us-east-2"
    assert SNSForwardHandler(lambda event: ARN).region_name is None


# --- messages ----------------------------------------------------------------------------


def _spy(handler: SNSForwardHandler, seen: list[Event]) -> None:
    encode = handler.encode

    def spy(event: Event) -> Any:
        seen.append(event)
        return encode(event)

    handler.encode = spy  # type: ignore[method-assign]


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/shop"), CloudEventsFormat("/shop", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_messages_decode_back_to_the_events(
    sns_topic: MakeTopic, make_handler: MakeHandler, serializer: Any
) -> None:
    """Through a raw-delivery subscription, decode() restores name, payload and id."""
    topic = sns_topic()
    handler = make_handler(topic.arn, topic.endpoint, serializer=serializer)
    seen: list[Event] = []
    _spy(handler, seen)
    assert await forward(handler, [("order.placed", {"n": 1}), ("order.paid", [2])]) == []
    received = [decode(m) for m in topic.queue.receive_all(2)]
    assert [(r.name, r.payload, r.id) for r in received] == [
        ("order.placed", {"n": 1}, seen[0].id),
        ("order.paid", [2], seen[1].id),
    ]


async def test_metadata_are_attributes_and_binary_cloudevents_use_ce_attributes(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """Default: event_name/event_id/content_type and yours; binary CloudEvents: ce-*."""
    plain, binary = sns_topic(), sns_topic()
    handler = make_handler(plain.arn, plain.endpoint, attributes={"service": "orders"})
    assert await forward(handler, [("a", 1)]) == []
    ce = make_handler(
        binary.arn, binary.endpoint, serializer=CloudEventsFormat("/s", mode="binary")
    )
    assert await forward(ce, [("a", 1)]) == []
    [message] = plain.queue.receive_all(1)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes.pop("event_id") == decode(message).id
    assert float(attributes.pop("event_time")) == decode(message).time.timestamp()  # type: ignore[union-attr]
    assert (message["Body"], attributes) == (
        '["a",1]',
        {"event_name": "a", "content_type": "application/json", "service": "orders"},
    )
    [message] = binary.queue.receive_all(1)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert (message["Body"], attributes["ce-type"], attributes["ce-source"]) == ("1", "a", "/s")
    assert (attributes["ce-specversion"], attributes["content-type"]) == ("1.0", "application/json")
    assert decode(message).source == "/s"


async def test_without_raw_delivery_the_sns_envelope_decodes_too(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """A queue subscribed without RawMessageDelivery gets the SNS JSON envelope; decode()
    reads the message and its attributes out of it."""
    topic = sns_topic(raw=False)
    handler = make_handler(topic.arn, topic.endpoint)
    seen: list[Event] = []
    _spy(handler, seen)
    assert await forward(handler, [("user.created", {"id": 4})]) == []
    [message] = topic.queue.receive_all(1)
    assert json.loads(message["Body"])["Type"] == "Notification"
    received = decode(message)
    assert (tuple(received), received.id) == (("user.created", {"id": 4}), seen[0].id)
    assert received.attributes["event_name"] == "user.created"


async def test_each_event_goes_to_the_topic_its_function_names(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """A topic function routes each event; each topic keeps dispatch order."""
    topics = {"orders": sns_topic(), "users": sns_topic()}
    endpoint = topics["orders"].endpoint
    handler = make_handler(lambda event: topics[event.key.split(".")[0]].arn, endpoint)
    events = [("orders.new", 1), ("users.new", 2), ("orders.paid", 3)]
    assert await forward(handler, events) == []
    assert [b[1] for b in bodies(topics["orders"].queue.receive_all(2))] == [1, 3]
    assert [b[1] for b in bodies(topics["users"].queue.receive_all(1))] == [2]


async def test_an_unserialisable_event_fails_alone(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """A serializer failure is reported once; its siblings are published."""
    topic = sns_topic()
    handler = make_handler(topic.arn, topic.endpoint)
    failures = await forward(handler, [("a", 1), ("bad", object()), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", SerializationError)]
    assert [b[0] for b in bodies(topic.queue.receive_all(2))] == ["a", "c"]


async def test_too_many_attributes_fail_only_that_event(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """An event whose attributes cannot fit in SNS's 10 is reported; its siblings are sent."""
    topic = sns_topic()
    handler = make_handler(
        topic.arn,
        topic.endpoint,
        attributes=lambda e: {f"a{i}": "x" for i in range(8 if e.payload else 1)},
    )
    failures = await forward(handler, [("a", 0), ("b", 1), ("c", 0)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("b", SerializationError)]
    assert "SNS allows 10" in str(failures[0][2])
    assert [b[0] for b in bodies(topic.queue.receive_all(2))] == ["a", "c"]


# --- batching ----------------------------------------------------------------------------


async def test_batches_hold_at_most_ten_messages(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """25 events of one scope are published in PublishBatch calls of 10, 10 and 5."""
    topic = sns_topic()
    handler = make_handler(topic.arn, sns_proxy.url)
    assert await forward(handler, [("n", i) for i in range(25)]) == []
    assert sns_proxy.publishes() == [10, 10, 5]
    assert [b[1] for b in bodies(topic.queue.receive_all(25))] == list(range(25))


async def test_batches_are_split_by_bytes_at_the_256_kib_limit(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """100 KB messages go two per PublishBatch (256 KiB per batch), and all arrive."""
    topic = sns_topic()
    handler = make_handler(topic.arn, sns_proxy.url)
    assert await forward(handler, [("big", "x" * 100_000) for _ in range(5)]) == []
    assert sns_proxy.publishes() == [2, 2, 1]
    assert len(topic.queue.receive_all(5)) == 5


async def test_a_message_over_256_kib_is_reported_and_its_siblings_sent(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """Body plus attributes over 262144 bytes fails that event alone, before any call."""
    topic = sns_topic()
    handler = make_handler(topic.arn, sns_proxy.url)
    events = [("ok", "x" * 262_000), ("huge", "x" * 262_144), ("small", 1)]
    failures = await forward(handler, events)
    assert [(e.key, type(x)) for e, _, x in failures] == [("huge", SerializationError)]
    assert "over the 262144-byte SNS limit" in str(failures[0][2])
    assert sns_proxy.publishes() == [1, 1]  # "ok" and "small" together exceed 256 KiB
    assert [b[0] for b in bodies(topic.queue.receive_all(2))] == ["ok", "small"]


# --- FIFO --------------------------------------------------------------------------------


async def test_fifo_topics_get_the_group_and_the_event_id_as_deduplication_id(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """A FIFO topic gets the group from the callable and the event id as deduplication id;
    the FIFO queue behind it receives the events in order."""
    topic = sns_topic(fifo=True)
    handler = make_handler(
        topic.arn, topic.endpoint, message_group_id=lambda e: f"user-{e.payload['user']}"
    )
    assert await forward(handler, [("step", {"user": 1, "n": n}) for n in range(12)]) == []
    messages = topic.queue.receive_all(12)
    assert [b[1]["n"] for b in bodies(messages)] == list(range(12))
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"user-1"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [
        decode(m).id for m in messages
    ]


async def test_a_routed_fifo_topic_without_a_group_fails_its_events_only(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """Routed to a FIFO topic without message_group_id: those events are reported."""
    plain, fifo = sns_topic(), sns_topic(fifo=True)
    handler = make_handler(lambda e: fifo.arn if e.key == "f" else plain.arn, plain.endpoint)
    failures = await forward(handler, [("f", 1), ("p", 2)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("f", ConfigurationError)]
    assert "FIFO topic (ARN ending in .fifo)" in str(failures[0][2])
    assert bodies(plain.queue.receive_all(1)) == [["p", 2]]


# --- failures ----------------------------------------------------------------------------


async def test_failed_entries_without_sender_fault_are_retried(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """Failed[] entries with SenderFault false are published again; nothing is reported."""
    topic = sns_topic()
    sns_proxy.fail_entries = [([0, 2], False), ([1], False)]
    handler = make_handler(topic.arn, sns_proxy.url)
    assert await forward(handler, [("n", i) for i in range(4)]) == []
    assert sns_proxy.publishes() == [4, 2, 1]
    assert sorted(b[1] for b in bodies(topic.queue.receive_all(4))) == [0, 1, 2, 3]


async def test_failed_entries_with_sender_fault_are_reported_not_retried(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """A Failed[] entry with SenderFault true is reported once, with SNS's code."""
    topic = sns_topic()
    sns_proxy.fail_entries = [([1], True)]
    failures = await forward(make_handler(topic.arn, sns_proxy.url), [("a", 0), ("b", 1)])
    [(event, _, error)] = failures
    assert (event.key, type(error), getattr(error, "code", None)) == (
        "b",
        SNSDeliveryError,
        "InjectedFault",
    )
    assert sns_proxy.publishes() == [2]
    assert bodies(topic.queue.receive_all(1)) == [["a", 0]]


async def test_retries_are_bounded_and_then_reported(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """An entry failing at every attempt is reported after RetryPolicy.attempts tries."""
    sns_proxy.fail_entries = [([0], False)] * 3
    handler = make_handler(sns_topic().arn, sns_proxy.url)
    failures = await forward(handler, [("stuck", 1)])
    assert [(e.key, getattr(x, "sender_fault", None)) for e, _, x in failures] == [("stuck", False)]
    assert sns_proxy.publishes() == [1, 1, 1]


async def test_server_errors_are_retried_until_every_event_arrives(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """With botocore's retries off, 5xx answers are retried by the forwarder."""
    topic = sns_topic()
    sns_proxy.statuses = [503, 500, 503]
    handler = make_handler(
        topic.arn, sns_proxy.url, config=NO_BOTO_RETRIES, max_batch_size=5, retry=FAST
    )
    assert await forward(handler, [("n", i) for i in range(12)]) == []
    assert sorted(b[1] for b in bodies(topic.queue.receive_all(12))) == list(range(12))


async def test_a_message_sns_refuses_is_reported_once_and_its_siblings_arrive(
    sns_topic: MakeTopic, make_handler: MakeHandler, library_logs: list[Any]
) -> None:
    """A 300 KB message (max_bytes raised, the topic's limit is not) comes back in Failed[]
    with SenderFault: reported once, never retried; every event has exactly one outcome."""
    topic = sns_topic()
    marker = secret()
    handler = make_handler(topic.arn, topic.endpoint, max_bytes=1024 * 1024)
    dispatched: list[str] = []
    recorder = LocalHandler()

    @recorder.register
    async def record(event: Event) -> None:
        dispatched.append(event.id)

    failures: list[Failure] = []
    async with event_scope(handlers=[handler, recorder], on_error=lambda *f: failures.append(f)):
        for n in range(5):
            dispatch("n", marker + "x" * 300_000 if n == 2 else n)
    [(event, _, error)] = failures
    assert (type(error), getattr(error, "code", None)) == (SNSDeliveryError, "InvalidParameter")
    delivered = [decode(m).id for m in topic.queue.receive_all(4)]
    assert sorted([*delivered, event.id]) == sorted(dispatched)
    assert [decode(m).payload for m in topic.queue.receive_all(1)] == []  # nothing more
    errors = [r.name for r in library_logs if r.levelno >= logging.ERROR]
    assert errors == ["fastapi_events.handlers.sns"]
    assert_not_leaked(marker, library_logs, [error])


async def test_a_batch_rejected_whole_is_halved_until_the_bad_entry_is_alone(
    sns_topic: MakeTopic, sns_proxy: SNSProxy, make_handler: MakeHandler
) -> None:
    """An empty attribute value makes SNS reject the whole batch (InvalidParameter): halves
    are published until only that event fails; its nine siblings arrive."""
    topic = sns_topic()
    handler = make_handler(
        topic.arn, sns_proxy.url, attributes=lambda e: {"tag": "" if e.payload == 4 else "ok"}
    )
    failures = await forward(handler, [("n", i) for i in range(10)])
    assert [(e.payload, type(x), getattr(x, "code", "")) for e, _, x in failures] == [
        (4, SNSDeliveryError, "InvalidParameter")
    ]
    assert sns_proxy.publishes() == SPLIT_SENDS
    assert sorted(b[1] for b in bodies(topic.queue.receive_all(9))) == [0, 1, 2, 3, 5, 6, 7, 8, 9]


async def test_sns_down_at_start_up_reports_every_event(make_handler: MakeHandler) -> None:
    """Nothing listens on the port: each event is reported once, after the retries."""
    handler = make_handler(ARN, f"http://127.0.0.1:{free_port()}", config=NO_BOTO_RETRIES)
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x), getattr(x, "code", "")) for e, _, x in failures] == [
        ("a", SNSDeliveryError, "EndpointConnectionError"),
        ("b", SNSDeliveryError, "EndpointConnectionError"),
    ]


async def test_a_restart_mid_stream_loses_nothing_silently(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """Server stopped between batches: those events are reported; once it is back, the
    same client publishes again. Every event is delivered or reported, never both."""
    topic = sns_topic()
    server = MotoProcess().start()
    try:
        handler = make_handler(topic.arn, server.url, config=NO_BOTO_RETRIES)
        before = await forward(handler, [("before", 1)])
        server.stop()
        during = await forward(handler, [("during", 2)])
        server.start()
        after = await forward(handler, [("after", 3)])
    finally:
        server.stop()
    assert (before, after) == ([], [])
    assert [(e.key, type(x)) for e, _, x in during] == [("during", SNSDeliveryError)]
    assert [b[0] for b in bodies(topic.queue.receive_all(2))] == ["before", "after"]


async def test_health_reads_the_topic_and_fails_where_it_cannot(
    sns_topic: MakeTopic, make_handler: MakeHandler
) -> None:
    """check_health(): healthy for the topic and when routed; a missing topic or a dead
    port is unhealthy. The client is made by the first probe, not in __init__."""
    topic = sns_topic()
    good = make_handler(topic.arn, topic.endpoint)
    assert good._client is None
    routed = make_handler(lambda e: topic.arn, topic.endpoint)
    missing = make_handler(topic.arn + "-gone", topic.endpoint)
    dead = make_handler(topic.arn, f"http://127.0.0.1:{free_port()}", config=NO_BOTO_RETRIES)
    statuses = [await h.check_health() for h in (good, routed, missing, dead)]
    assert [s.healthy for s in statuses] == [True, True, False, False]
    assert statuses[0].handler.endswith(f"SNSForwardHandler({topic.arn})")
    assert "NotFound" in statuses[2].detail
    assert statuses[3].detail.startswith("EndpointConnectionError")
