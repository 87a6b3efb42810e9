"""SQSForwardHandler against moto's SQS server on 127.0.0.1, through real boto3."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from botocore.config import Config

from fastapi_events import event_scope, wait_for_pending
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.aws import (
    AWS_INSTALL_HINT,
    RetryPolicy,
    SQSDeliveryError,
    SQSForwardHandler,
)
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import CloudEventsFormat, SerializationError, decode
from tests.leaks import MAX_MESSAGE, Opaque, assert_not_leaked, nested, secret
from tests.servers.sqs import REGION, FaultyProxy, SQSQueue

pytestmark = pytest.mark.anyio

Failure = tuple[Event, object, BaseException]
MakeHandler = Callable[..., SQSForwardHandler]
NO_BOTO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01)


@pytest.fixture
async def make_handler() -> AsyncIterator[MakeHandler]:
    """Build handlers for a test and aclose() them at its end."""
    made: list[SQSForwardHandler] = []

    def make(queue: SQSQueue, endpoint: str | None = None, **options: Any) -> SQSForwardHandler:
        options.setdefault("retry", FAST_RETRY)
        handler = SQSForwardHandler(
            queue.url, REGION, endpoint_url=endpoint or queue.endpoint, **options
        )
        made.append(handler)
        return handler

    yield make
    for handler in made:
        await handler.aclose()


async def forward(handler: SQSForwardHandler, events: Iterable[tuple[str, Any]]) -> list[Failure]:
    """Dispatch ``events`` in one scope (one batch); return what reached the error hook."""
    failures: list[Failure] = []
    async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
        for name, payload in events:
            dispatch(name, payload)
    return failures


def bodies(messages: list[dict[str, Any]]) -> list[Any]:
    return [json.loads(m["Body"]) for m in messages]


# --- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 11, -1, True, 2.5])
async def test_max_batch_size_outside_the_sqs_limit_is_rejected(size: Any) -> None:
    """max_batch_size must be an int from 1 to 10 (0.12 silently sent nothing for 0)."""
    with pytest.raises(ConfigurationError, match=r"max_batch_size must be between 1 and 10"):
        SQSForwardHandler("http://q", REGION, max_batch_size=size)


@pytest.mark.parametrize("limit", [0, 1023, 1024 * 1024 + 1, "1MiB"])
async def test_max_bytes_outside_the_sqs_limit_is_rejected(limit: Any) -> None:
    """max_bytes must be an int up to 1 MiB; the message suggests 262144 for old queues."""
    with pytest.raises(ConfigurationError, match="262144"):
        SQSForwardHandler("http://q", REGION, max_bytes=limit)


async def test_fifo_queue_needs_a_message_group() -> None:
    """A .fifo queue without message_group_id fails at construction, naming the option."""
    with pytest.raises(ConfigurationError, match="message_group_id="):
        SQSForwardHandler("http://host/123/q.fifo", REGION)
    with pytest.raises(ConfigurationError, match="FIFO"):
        SQSForwardHandler("http://host/123/q", REGION, message_group_id="g")


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


async def test_importing_the_module_does_not_import_boto3() -> None:
    """`import fastapi_events.handlers.aws` loads neither boto3 nor botocore."""
    code = "import sys, fastapi_events.handlers.aws\nprint('boto' in str(sorted(sys.modules)))"
    assert _run_python(code) == "False"


async def test_missing_boto3_says_how_to_install() -> None:
    """Without boto3, constructing the handler says which extra to install."""
    code = (
        "import sys\nsys.modules['boto3'] = None\n"
        "from fastapi_events.handlers.aws import SQSForwardHandler\n"
        "try:\n    SQSForwardHandler('http://q', 'us-east-1')\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    assert _run_python(code) == AWS_INSTALL_HINT


async def test_client_is_created_on_first_event_not_in_init(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """Construction opens no client (Litestar builds middleware per route)."""
    queue = sqs_queue()
    handler = make_handler(queue)
    assert handler._client is None
    assert await forward(handler, [("a", 1)]) == []
    assert handler._client is not None
    await handler.aclose()
    assert handler._client is None
    assert await forward(handler, [("b", 2)]) == []  # a fresh client after aclose()
    assert bodies(queue.receive_all(2)) == [["a", 1], ["b", 2]]


# --- bodies and attributes ------------------------------------------------------------


async def test_body_is_the_json_array_and_metadata_are_attributes(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """Default body ["name", payload]; event name, id and content type are attributes."""
    queue = sqs_queue()
    handler = make_handler(queue, attributes={"service": "orders"})
    async with event_scope(handlers=[handler]):
        dispatch("order.created", {"id": 7})
    [message] = queue.receive_all(1)
    assert json.loads(message["Body"]) == ["order.created", {"id": 7}]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes.pop("event_id") == decode(message).id
    assert float(attributes.pop("event_time")) == decode(message).time.timestamp()  # type: ignore[union-attr]
    assert attributes == {
        "event_name": "order.created",
        "content_type": "application/json",
        "service": "orders",
    }


async def test_cloudevents_over_sqs_round_trip(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """A structured CloudEvent sent to SQS decodes back to the event."""
    queue = sqs_queue()
    handler = make_handler(queue, serializer=CloudEventsFormat("/tests"))
    assert await forward(handler, [("user.created", {"id": 1})]) == []
    [message] = queue.receive_all(1)
    received = decode(message)
    assert (tuple(received), received.source) == (("user.created", {"id": 1}), "/tests")


async def test_trace_context_is_dropped_before_exceeding_ten_attributes(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """With 7 attributes of the user's, tracestate goes first: never more than 10."""
    queue = sqs_queue()
    handler = make_handler(queue, attributes={f"a{i}": "x" for i in range(6)})
    event = Event("x", 1)
    event.trace_context = {
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        "tracestate": "k=v",
    }
    await handler.handle_many([event])
    [message] = queue.receive_all(1)
    assert len(message["MessageAttributes"]) == 10
    assert "traceparent" in message["MessageAttributes"]
    assert "tracestate" not in message["MessageAttributes"]
    assert "event_time" not in message["MessageAttributes"]  # dropped second


async def test_too_many_attributes_fail_only_that_event(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """An event whose attributes cannot fit in 10 is reported; its siblings are sent."""
    queue = sqs_queue()
    handler = make_handler(
        queue, attributes=lambda e: {f"a{i}": "x" for i in range(8 if e.payload else 1)}
    )
    failures = await forward(handler, [("a", 0), ("b", 1), ("c", 0)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("b", SerializationError)]
    assert "SQS allows 10" in str(failures[0][2])
    assert sorted(body[0] for body in bodies(queue.receive_all(2))) == ["a", "c"]


async def test_unserialisable_payload_fails_only_its_event(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """A payload json cannot encode is reported with its event; the others are sent."""
    queue = sqs_queue()
    failures = await forward(make_handler(queue), [("a", 1), ("b", object()), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("b", SerializationError)]
    assert bodies(queue.receive_all(2)) == [["a", 1], ["c", 3]]


# --- batching --------------------------------------------------------------------------


async def test_batches_hold_at_most_ten_messages(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """25 events of one request are sent in SendMessageBatch calls of 10, 10 and 5."""
    queue = sqs_queue()
    handler = make_handler(queue, sqs_proxy.url)
    assert await forward(handler, [("n", i) for i in range(25)]) == []
    assert sqs_proxy.sends() == [10, 10, 5]
    assert sorted(body[1] for body in bodies(queue.receive_all(25))) == list(range(25))


async def test_max_batch_size_is_respected(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """max_batch_size=3 splits 7 events into 3, 3 and 1."""
    handler = make_handler(sqs_queue(), sqs_proxy.url, max_batch_size=3)
    assert await forward(handler, [("n", i) for i in range(7)]) == []
    assert sqs_proxy.sends() == [3, 3, 1]


async def test_batches_are_split_by_bytes_at_the_256_kib_limit(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """With max_bytes=256 KiB, 100 KB messages go two per batch, and all arrive."""
    queue = sqs_queue(MaximumMessageSize="262144")
    handler = make_handler(queue, sqs_proxy.url, max_bytes=262144)
    assert await forward(handler, [("big", "x" * 100_000) for _ in range(5)]) == []
    assert sqs_proxy.sends() == [2, 2, 1]
    assert len(queue.receive_all(5)) == 5


async def test_a_message_near_1_mib_is_sent_and_one_over_it_is_reported(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """The default limit is 1 MiB: a message just under it passes, one over it is reported."""
    queue = sqs_queue()
    handler = make_handler(queue, sqs_proxy.url)
    events = [("ok", "x" * 1_048_400), ("huge", "x" * 1_048_600), ("small", 1)]
    failures = await forward(handler, events)
    assert [(e.key, type(x)) for e, _, x in failures] == [("huge", SerializationError)]
    assert "over the 1048576-byte SQS limit" in str(failures[0][2])
    assert sqs_proxy.sends() == [1, 1]  # "ok" and "small" together exceed 1 MiB
    assert sorted(body[0] for body in bodies(queue.receive_all(2))) == ["ok", "small"]


async def test_over_256_kib_is_reported_when_the_queue_has_the_old_limit(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """max_bytes=262144 reports a 300 KB message instead of losing its whole batch."""
    queue = sqs_queue(MaximumMessageSize="262144")
    handler = make_handler(queue, max_bytes=262144)
    failures = await forward(handler, [("big", "x" * 300_000), ("fits", "x" * 200_000)])
    assert [e.key for e, _, _ in failures] == ["big"]
    assert [body[0] for body in bodies(queue.receive_all(1))] == ["fits"]


async def test_events_outside_requests_are_batched_too(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """Events sent with middleware_id= share SendMessageBatch calls (0.12 sent one by one)."""
    queue = sqs_queue()
    handler = make_handler(queue, sqs_proxy.url)
    _alive = EventHandlerASGIMiddleware(app=None, handlers=[handler], middleware_id=31)  # type: ignore[arg-type]
    for i in range(20):
        dispatch("job.done", i, middleware_id=31)
    await wait_for_pending(10)
    assert sum(sqs_proxy.sends()) == 20
    assert len(sqs_proxy.sends()) <= 3
    assert sorted(body[1] for body in bodies(queue.receive_all(20))) == list(range(20))


async def test_a_too_deep_payload_fails_alone(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """A payload nested past the recursion limit is reported once; its siblings are sent."""
    queue = sqs_queue()
    failures = await forward(make_handler(queue), [("a", 1), ("deep", nested(5000)), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("deep", SerializationError)]
    assert sorted(body[0] for body in bodies(queue.receive_all(2))) == ["a", "c"]


def test_delivery_error_text_is_capped() -> None:
    """SQS's or botocore's text is kept to a few hundred characters."""
    error = SQSDeliveryError("x" * 2**20, code="InvalidParameterValue", sender_fault=True)
    assert len(str(error)) <= MAX_MESSAGE


# --- FIFO ------------------------------------------------------------------------------


async def test_fifo_groups_and_deduplication_ids(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """A FIFO queue gets the group from the callable and the event id as deduplication id."""
    queue = sqs_queue(fifo=True)
    handler = make_handler(queue, message_group_id=lambda e: f"user-{e.payload['user']}")
    events = [("step", {"user": 1, "n": n}) for n in range(12)]
    assert await forward(handler, events) == []
    messages = queue.receive_all(12)
    assert [json.loads(m["Body"])[1]["n"] for m in messages] == list(range(12))
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"user-1"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [
        decode(m).id for m in messages
    ]


async def test_a_bad_message_group_is_reported_by_type_only(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """A group function returning a non-str fails its event; the error names the type."""
    marker = secret()
    queue = sqs_queue(fifo=True)
    handler = make_handler(queue, message_group_id=lambda e: Opaque(marker) if e.payload else "g")
    failures = await forward(handler, [("a", 0), ("bad", 1)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", ConfigurationError)]
    assert "got Opaque" in str(failures[0][2])
    assert_not_leaked(marker, exceptions=[failures[0][2]])
    assert [body[0] for body in bodies(queue.receive_all(1))] == ["a"]


# --- failures and retries --------------------------------------------------------------


async def test_failed_entries_without_sender_fault_are_retried(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """Failed[] entries with SenderFault false are sent again; nothing is reported."""
    queue = sqs_queue()
    sqs_proxy.fail_entries = [([0, 2], False), ([1], False)]
    handler = make_handler(queue, sqs_proxy.url)
    assert await forward(handler, [("n", i) for i in range(4)]) == []
    assert sqs_proxy.sends() == [4, 2, 1]
    assert sorted(body[1] for body in bodies(queue.receive_all(4))) == [0, 1, 2, 3]


async def test_failed_entries_with_sender_fault_are_reported_not_retried(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """A Failed[] entry with SenderFault true is reported once, with SQS's code."""
    queue = sqs_queue()
    sqs_proxy.fail_entries = [([1], True)]
    failures = await forward(make_handler(queue, sqs_proxy.url), [("a", 0), ("b", 1)])
    [(event, _, error)] = failures
    assert (event.key, type(error), getattr(error, "code", None)) == (
        "b",
        SQSDeliveryError,
        "InjectedFault",
    )
    assert sqs_proxy.sends() == [2]
    assert bodies(queue.receive_all(1)) == [["a", 0]]


async def test_retries_are_bounded_and_then_reported(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """An entry failing at every attempt is reported after RetryPolicy.attempts tries."""
    sqs_proxy.fail_entries = [([0], False)] * 3
    handler = make_handler(sqs_queue(), sqs_proxy.url, retry=RetryPolicy(3, 0.001, 0.01))
    failures = await forward(handler, [("stuck", 1)])
    assert [(e.key, getattr(x, "sender_fault", None)) for e, _, x in failures] == [("stuck", False)]
    assert sqs_proxy.sends() == [1, 1, 1]


async def test_server_errors_are_retried_until_every_event_arrives(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """With botocore's retries off, 503s on a share of requests are retried by us."""
    queue = sqs_queue()
    sqs_proxy.statuses = [503, 500, 503]
    handler = make_handler(queue, sqs_proxy.url, config=NO_BOTO_RETRIES, max_batch_size=5)
    assert await forward(handler, [("n", i) for i in range(12)]) == []
    received = sorted(body[1] for body in bodies(queue.receive_all(12)))
    assert received == list(range(12))  # every event at least once (here: exactly once)


async def test_unreachable_endpoint_is_reported_per_event(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """Connection refused at every attempt: each event is reported, nothing raises."""
    handler = make_handler(
        sqs_queue(),
        "http://127.0.0.1:9",
        config=NO_BOTO_RETRIES,
        retry=RetryPolicy(2, 0.001, 0.01),
    )
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("a", SQSDeliveryError),
        ("b", SQSDeliveryError),
    ]
    assert "EndpointConnectionError" in {getattr(x, "code", "") for _, _, x in failures}


async def test_sending_does_not_block_the_event_loop(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """While SQS holds the request, the loop runs other tasks (boto3 is in a thread)."""
    queue = sqs_queue()
    handler = make_handler(queue, sqs_proxy.url)
    await handler.handle_many([Event("warm", 0)])  # the client exists
    sqs_proxy.hold = True
    send = asyncio.create_task(handler.handle_many([Event("held", 1)]))
    await asyncio.to_thread(sqs_proxy.held.wait, 10)
    assert not send.done()  # this line runs: the loop is free while the send waits
    sqs_proxy.released.set()
    await asyncio.wait_for(send, 10)
    assert [body[0] for body in bodies(queue.receive_all(2))] == ["warm", "held"]


async def test_a_request_through_fastapi_sends_one_batch(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """A FastAPI request dispatching three events results in one SendMessageBatch."""
    import httpx
    from fastapi import FastAPI

    queue = sqs_queue()
    app = FastAPI()
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[make_handler(queue, sqs_proxy.url)])

    @app.post("/orders")
    async def create_order() -> dict[str, str]:
        for step in ("created", "paid", "shipped"):
            dispatch(f"order.{step}", {"id": 1})
        return {"ok": "yes"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.post("/orders")).status_code == 200
    assert sqs_proxy.sends() == [3]
    assert [body[0] for body in bodies(queue.receive_all(3))] == [
        "order.created",
        "order.paid",
        "order.shipped",
    ]


def test_client_is_created_at_application_startup(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """The lifespan startup creates the client (off the loop), before the first request."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.testclient import TestClient

    queue = sqs_queue()
    handler = SQSForwardHandler(queue.url, REGION, endpoint_url=queue.endpoint)
    app = Starlette(middleware=[Middleware(EventHandlerASGIMiddleware, handlers=[handler])])
    with TestClient(app):
        assert handler._client is not None
    assert handler._client is None  # closed at shutdown


async def test_id_generator_names_the_entries_and_repeats_are_made_unique(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """A 0.12 id_generator gives the batch entry ids; a repeated id cannot fail the batch."""
    queue = sqs_queue()
    handler = make_handler(queue, sqs_proxy.url, id_generator=lambda: "same")
    assert await forward(handler, [("n", i) for i in range(3)]) == []
    assert sorted(body[1] for body in bodies(queue.receive_all(3))) == [0, 1, 2]


async def test_a_0_12_serializer_is_used_for_the_body(
    sqs_queue: Callable[..., SQSQueue], make_handler: MakeHandler
) -> None:
    """serializer= receives the (name, payload) pair, as in 0.12, and makes the body."""
    queue = sqs_queue()
    handler = make_handler(queue, serializer=lambda event: f"{event[0]}:{event[1]['id']}")
    assert await forward(handler, [("user.created", {"id": 4})]) == []
    [message] = queue.receive_all(1)
    assert message["Body"] == "user.created:4"
    assert message["MessageAttributes"]["event_name"]["StringValue"] == "user.created"
