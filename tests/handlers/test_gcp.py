"""GoogleCloudSimplePubSubHandler through the real client: the emulator, and a gRPC fake."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.gcp import GOOGLE_INSTALL_HINT, GoogleCloudSimplePubSubHandler
from fastapi_events.serialization import CloudEventsFormat, SerializationError, decode
from tests.leaks import Opaque, assert_not_leaked, nested, secret
from tests.servers.pubsub import PROJECT_ID, FakeServer, PubSubTopic, unique_topic_id
from tests.servers.pubsub_fake import serve_fake_publisher

Failure = tuple[Event, object, BaseException]
MakeHandler = Callable[..., GoogleCloudSimplePubSubHandler]


@pytest.fixture
async def make_handler() -> AsyncIterator[MakeHandler]:
    """Build handlers for a test and aclose() them at its end."""
    made: list[GoogleCloudSimplePubSubHandler] = []

    def make(topic_id: str, **options: Any) -> GoogleCloudSimplePubSubHandler:
        handler = GoogleCloudSimplePubSubHandler(PROJECT_ID, topic_id, **options)
        made.append(handler)
        return handler

    yield make
    for handler in made:
        await handler.aclose()


async def forward(
    handler: GoogleCloudSimplePubSubHandler, events: Iterable[tuple[str, Any]]
) -> list[Failure]:
    """Dispatch ``events`` in one scope (one batch); return what reached the error hook."""
    failures: list[Failure] = []
    async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
        for name, payload in events:
            dispatch(name, payload)
    return failures


async def _until_published(handler: GoogleCloudSimplePubSubHandler, count: int) -> None:
    """Wait until ``count`` messages are in the client's hands (its unconfirmed set)."""
    for _ in range(1000):
        if len(handler._pending) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} messages never reached the client")


# --- configuration -------------------------------------------------------------------------


def test_constructs_without_batch_settings_kwargs() -> None:
    """The 0.12 signature works with only a project and a topic (0.12 raised TypeError)."""
    handler = GoogleCloudSimplePubSubHandler("proj", "topic")
    assert handler.topic_path == "projects/proj/topics/topic"


@pytest.mark.parametrize("size", [0, 1001, -1, True, 2.5])
def test_max_batch_size_outside_pubsub_limit_is_rejected(size: Any) -> None:
    """max_batch_size must be an int from 1 to 1000 (Pub/Sub's limit per request)."""
    with pytest.raises(ConfigurationError, match="max_batch_size"):
        GoogleCloudSimplePubSubHandler("proj", "topic", max_batch_size=size)


def test_unknown_batch_setting_is_rejected() -> None:
    """A typo in batch_settings_kwargs fails at construction, naming the accepted keys."""
    with pytest.raises(ConfigurationError, match="max_latency"):
        GoogleCloudSimplePubSubHandler("proj", "topic", batch_settings_kwargs={"latency": 1})


def test_ordering_key_needs_message_ordering() -> None:
    """An ordering key without enable_message_ordering=True is a configuration error."""
    with pytest.raises(ConfigurationError, match="enable_message_ordering=True"):
        GoogleCloudSimplePubSubHandler("proj", "topic", ordering_key="k")


def test_batch_settings_cannot_apply_to_a_passed_client() -> None:
    """batch_settings_kwargs together with publisher_client is rejected, not ignored."""
    with pytest.raises(ConfigurationError, match="publisher_client"):
        GoogleCloudSimplePubSubHandler(
            "proj", "topic", batch_settings_kwargs={"max_latency": 1}, publisher_client=object()
        )


@pytest.mark.parametrize(("project", "topic"), [("", "topic"), ("proj", ""), ("proj", None)])
def test_empty_names_are_rejected(project: Any, topic: Any) -> None:
    """An empty project or topic id fails at construction."""
    with pytest.raises(ConfigurationError, match="must be a non-empty str"):
        GoogleCloudSimplePubSubHandler(project, topic)


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_importing_the_module_does_not_import_google() -> None:
    """`import fastapi_events.handlers.gcp` loads neither google-cloud-pubsub nor grpc."""
    output = _run_python(
        "import sys, fastapi_events.handlers.gcp\n"
        "print(sorted(m for m in sys.modules if m.startswith(('google.cloud.pubsub', 'grpc'))))"
    )
    assert output == "[]"


def test_missing_package_error_says_how_to_install() -> None:
    """Without google-cloud-pubsub the constructor raises ImportError naming the extra."""
    output = _run_python(
        "import sys\n"
        "sys.modules['google.cloud.pubsub_v1'] = None  # as if not installed\n"
        "from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler\n"
        "try:\n"
        "    GoogleCloudSimplePubSubHandler('proj', 'topic')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert output == GOOGLE_INSTALL_HINT
    assert "pip install 'fastapi-events[google]'" in output


# --- publishing (emulator and fake) --------------------------------------------------------


@pytest.mark.anyio
async def test_body_is_json_name_payload_array(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """The default body is 0.12's JSON array ["name", payload]."""
    failures = await forward(make_handler(pubsub_topic.topic_id), [("user.created", {"id": 1})])
    assert failures == []
    [message] = pubsub_topic.receive(1)
    assert json.loads(message.data) == ["user.created", {"id": 1}]


@pytest.mark.anyio
async def test_binary_cloudevents_travel_as_ce_attributes(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """Binary CloudEvents: ce-* attributes, the payload as the body, decodable back."""
    handler = make_handler(
        pubsub_topic.topic_id, serializer=CloudEventsFormat("/tests", mode="binary")
    )
    assert await forward(handler, [("user.created", {"id": 2})]) == []
    [message] = pubsub_topic.receive(1)
    assert json.loads(message.data) == {"id": 2}
    assert (message.attributes["ce-type"], message.attributes["ce-source"]) == (
        "user.created",
        "/tests",
    )
    received = decode(message.data, message.attributes)
    assert (tuple(received), received.id) == (
        ("user.created", {"id": 2}),
        message.attributes["ce-id"],
    )


@pytest.mark.anyio
async def test_attributes_carry_event_metadata(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """Attributes hold the event name, id, content type and trace context, not the payload."""
    trace = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    event = Event("user.created", {"id": 1}, trace_context=trace)
    await make_handler(pubsub_topic.topic_id).handle_many([event])
    [message] = pubsub_topic.receive(1)
    assert message.attributes["event_name"] == "user.created"
    assert message.attributes["event_id"] == event.id
    assert message.attributes["content_type"] == "application/json"
    assert message.attributes["traceparent"] == trace["traceparent"]


@pytest.mark.anyio
async def test_extra_attributes_are_added_and_metadata_wins(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """Per-event attributes are added; they cannot overwrite the event's metadata."""
    handler = make_handler(
        pubsub_topic.topic_id,
        attributes=lambda event: {"tenant": event.payload["tenant"], "event_name": "spoofed"},
    )
    await forward(handler, [("order.paid", {"tenant": "acme"})])
    [message] = pubsub_topic.receive(1)
    assert message.attributes["tenant"] == "acme"
    assert message.attributes["event_name"] == "order.paid"


@pytest.mark.anyio
async def test_ordering_key_keeps_each_keys_order(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """Messages carry the per-event ordering key and arrive in dispatch order per key."""
    handler = make_handler(
        pubsub_topic.topic_id,
        ordering_key=lambda event: f"user-{event.payload['user']}",
        enable_message_ordering=True,
    )
    events = [("step", {"user": i % 2, "n": i}) for i in range(20)]
    assert await forward(handler, events) == []
    received = pubsub_topic.receive(20)
    for key in ("user-0", "user-1"):
        numbers = [json.loads(m.data)[1]["n"] for m in received if m.ordering_key == key]
        assert numbers == sorted(numbers) and len(numbers) == 10


@pytest.mark.anyio
async def test_unserialisable_payload_fails_only_its_event(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """A payload the serializer cannot encode is reported; its siblings are published."""
    failures = await forward(
        make_handler(pubsub_topic.topic_id), [("ok", 1), ("bad", object()), ("ok", 2)]
    )
    assert [(event.key, type(exc)) for event, _, exc in failures] == [("bad", SerializationError)]
    assert [json.loads(m.data) for m in pubsub_topic.receive(2)] == [["ok", 1], ["ok", 2]]


@pytest.mark.anyio
async def test_a_too_deep_payload_fails_alone(
    pubsub_fake: FakeServer, make_handler: MakeHandler
) -> None:
    """A payload nested past the recursion limit is reported once; its siblings go out."""
    handler = make_handler(unique_topic_id())
    failures = await forward(handler, [("a", 1), ("deep", nested(5000)), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("deep", SerializationError)]
    assert sorted(json.loads(m.data)[0] for m in pubsub_fake.state.messages()) == ["a", "c"]


@pytest.mark.anyio
@pytest.mark.parametrize("option", ["attributes", "ordering_key"])
async def test_bad_attribute_or_key_values_are_reported_by_type_only(
    pubsub_fake: FakeServer,
    make_handler: MakeHandler,
    library_logs: list[logging.LogRecord],
    option: str,
) -> None:
    """A non-str attribute value or ordering key (from the payload) is named by its type."""
    marker = secret()
    if option == "attributes":
        handler = make_handler(unique_topic_id(), attributes=lambda e: {"user": Opaque(marker)})
    else:
        handler = make_handler(
            unique_topic_id(),
            ordering_key=lambda e: Opaque(marker),
            enable_message_ordering=True,
        )
    failures = await forward(handler, [("bad", 1)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", TypeError)]
    assert "Opaque" in str(failures[0][2])
    assert_not_leaked(marker, library_logs, [failures[0][2]])


@pytest.mark.anyio
async def test_oversized_attribute_fails_only_its_event(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """An attribute over Pub/Sub's 1024-byte limit fails its event, not the whole batch."""
    handler = make_handler(pubsub_topic.topic_id, attributes=lambda e: {"note": e.payload})
    failures = await forward(handler, [("a", "short"), ("b", "x" * 1025), ("c", "short")])
    assert [event.key for event, _, _ in failures] == ["b"]
    assert [m.attributes["event_name"] for m in pubsub_topic.receive(2)] == ["a", "c"]


@pytest.mark.anyio
async def test_publish_is_awaited_without_blocking_the_loop(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """While the client holds a batch, the loop runs; handle_many returns once it is sent."""
    handler = make_handler(pubsub_topic.topic_id, batch_settings_kwargs={"max_latency": 60})
    task = asyncio.create_task(handler.handle_many([Event("slow", 1), Event("slow", 2)]))
    await _until_published(handler, 2)  # we run while the task is parked on the futures
    assert not task.done()
    await handler.aclose()  # flushes the batch (60 s latency otherwise)
    await asyncio.wait_for(task, 10)
    assert [json.loads(m.data)[1] for m in pubsub_topic.receive(2)] == [1, 2]


@pytest.mark.anyio
async def test_aclose_flushes_publishes_of_a_cancelled_batch(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """A batch still held by the client at shutdown is sent by aclose(), not dropped."""
    handler = make_handler(pubsub_topic.topic_id, batch_settings_kwargs={"max_latency": 60})
    task = asyncio.create_task(handler.handle_many([Event("held", 1), Event("held", 2)]))
    await _until_published(handler, 2)
    task.cancel()  # as the pipeline does when the shutdown timeout expires
    await handler.aclose()
    assert [json.loads(m.data)[1] for m in pubsub_topic.receive(2)] == [1, 2]


@pytest.mark.anyio
async def test_handler_publishes_again_after_aclose(
    pubsub_topic: PubSubTopic, make_handler: MakeHandler
) -> None:
    """After aclose() (an app restarted in tests) the next event opens a fresh client."""
    handler = make_handler(pubsub_topic.topic_id)
    await forward(handler, [("first", 1)])
    await handler.aclose()
    assert await forward(handler, [("second", 2)]) == []
    assert [json.loads(m.data)[0] for m in pubsub_topic.receive(2)] == ["first", "second"]


# --- client lifecycle and batching (fake) -------------------------------------------------


@pytest.mark.anyio
async def test_client_is_created_on_first_event_not_in_init(
    monkeypatch: pytest.MonkeyPatch, make_handler: MakeHandler
) -> None:
    """The client is built at the first event: construction opens nothing."""
    with serve_fake_publisher() as (host_a, fake_a), serve_fake_publisher() as (host_b, fake_b):
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host_a)
        handler = make_handler(unique_topic_id())
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host_b)
        await forward(handler, [("a", 1)])
        await handler.aclose()
    assert (len(fake_a.messages()), len(fake_b.messages())) == (0, 1)


@pytest.mark.anyio
async def test_max_batch_size_caps_messages_per_publish_request(
    pubsub_fake: FakeServer, make_handler: MakeHandler
) -> None:
    """max_batch_size becomes the client's max_messages: no request carries more."""
    handler = make_handler(
        unique_topic_id(), max_batch_size=2, batch_settings_kwargs={"max_latency": 0.2}
    )
    await forward(handler, [("n", i) for i in range(5)])
    assert [len(request.messages) for request in pubsub_fake.state.requests] == [2, 2, 1]


@pytest.mark.anyio
async def test_passed_client_is_used_and_left_open(
    pubsub_fake: FakeServer, make_handler: MakeHandler
) -> None:
    """A publisher_client passed in publishes the events and is not stopped by aclose()."""
    client = pubsub_v1.PublisherClient()
    topic_id = unique_topic_id()
    handler = make_handler(topic_id, publisher_client=client)
    await forward(handler, [("a", 1)])
    await handler.aclose()
    client.publish(pubsub_fake.topic_path(topic_id), b"still open").result(timeout=10)
    client.stop()
    data = [m.data for m in pubsub_fake.state.messages()]
    assert (json.loads(data[0]), data[1:]) == (["a", 1], [b"still open"])


# --- faults (fake) -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_unavailable_is_retried_by_the_client(
    pubsub_fake: FakeServer, make_handler: MakeHandler
) -> None:
    """A transient UNAVAILABLE is retried; the event is delivered and nothing is reported."""
    pubsub_fake.state.inject(grpc.StatusCode.UNAVAILABLE)
    failures = await forward(make_handler(unique_topic_id()), [("a", 1)])
    assert failures == []
    assert pubsub_fake.state.attempts == 2
    assert len(pubsub_fake.state.messages()) == 1


@pytest.mark.anyio
async def test_invalid_argument_is_reported_for_each_event(
    pubsub_fake: FakeServer,
    make_handler: MakeHandler,
    library_logs: list[logging.LogRecord],
) -> None:
    """A rejected publish request reports every event in it, by name and id, to the hook."""
    pubsub_fake.state.inject(grpc.StatusCode.INVALID_ARGUMENT)
    handler = make_handler(unique_topic_id())
    failures = await forward(handler, [("a", 1), ("b", 2), ("c", 3)])
    assert [(e.key, h, type(x)) for e, h, x in failures] == [
        (name, handler, api_exceptions.InvalidArgument) for name in "abc"
    ]
    logged = [r.getMessage() for r in library_logs if r.name == "fastapi_events.handlers.gcp"]
    assert len(logged) == 3
    assert all(e.id in line for (e, _, _), line in zip(failures, logged, strict=True))


@pytest.mark.anyio
async def test_failed_ordered_publish_resumes_its_key(
    pubsub_fake: FakeServer, make_handler: MakeHandler
) -> None:
    """After an ordered publish fails, later events with the same key are published."""
    handler = make_handler(unique_topic_id(), ordering_key="k", enable_message_ordering=True)
    pubsub_fake.state.inject(grpc.StatusCode.INVALID_ARGUMENT)
    first = await forward(handler, [("first", 1)])
    later = await forward(handler, [("later", 2)])
    assert [(e.key, type(x)) for e, _, x in first] == [("first", api_exceptions.InvalidArgument)]
    assert later == []
    assert [(m.ordering_key, json.loads(m.data)[0]) for m in pubsub_fake.state.messages()] == [
        ("k", "later")
    ]


@pytest.mark.anyio
async def test_bad_ordering_key_fails_only_its_event(
    pubsub_fake: FakeServer, make_handler: MakeHandler
) -> None:
    """An ordering-key function returning a non-str fails that event; None means unordered."""
    handler = make_handler(
        unique_topic_id(), ordering_key=lambda e: e.payload, enable_message_ordering=True
    )
    failures = await forward(handler, [("a", "k"), ("b", 42), ("c", None)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("b", TypeError)]
    # Messages of different keys travel independently: compare without their order.
    assert sorted(m.ordering_key for m in pubsub_fake.state.messages()) == ["", "k"]
