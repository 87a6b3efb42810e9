"""One trace across a queue: producer span -> message attributes -> consumer span."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.trace import SpanKind

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from fastapi_events.otel import consumer_span, extract_trace_context
from fastapi_events.serialization import decode
from tests.observability.conftest import Otel
from tests.servers.pubsub import PROJECT_ID, PubSubTopic
from tests.servers.sqs import REGION, SQSQueue

pytestmark = pytest.mark.anyio


async def test_trace_continues_across_sqs(otel: Otel, sqs_queue: Callable[..., SQSQueue]) -> None:
    """The consumer's span is a child of the dispatch span, in the request's trace."""
    queue = sqs_queue()
    forwarder = SQSForwardHandler(queue.url, REGION, endpoint_url=queue.endpoint)
    tracer = otel.tracer_provider.get_tracer("producer")
    async with event_scope(handlers=[forwarder], **otel.providers):
        with tracer.start_as_current_span("POST /orders") as request_span:
            dispatch("order.created", {"id": 1})
            dispatch("order.paid", {"id": 1})
    await forwarder.aclose()
    messages = queue.receive_all(2)
    for message in messages:
        with consumer_span(message, "process order", tracer_provider=otel.tracer_provider):
            pass
    request_trace = request_span.get_span_context().trace_id
    consumers = [s for s in otel.spans() if s.name == "process order"]
    creates = {s.context.span_id for s in otel.spans() if s.name.startswith("create order.")}
    assert {s.context.trace_id for s in consumers} == {request_trace}
    assert {s.parent.span_id for s in consumers if s.parent} == creates
    assert {s.kind for s in consumers} == {SpanKind.CONSUMER}
    send = otel.span(f"send {queue.url}")
    assert send.kind is SpanKind.PRODUCER
    assert dict(send.attributes or {}) | {"fastapi_events.handler": ""} == {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": queue.url,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.batch.message_count": 2,
        "fastapi_events.handler": "",
    }
    assert {link.context.span_id for link in send.links} == creates


async def test_trace_continues_across_pubsub(otel: Otel, pubsub_topic: PubSubTopic) -> None:
    """Pub/Sub attributes carry the trace; the consumer helper continues it."""
    forwarder = GoogleCloudSimplePubSubHandler(PROJECT_ID, pubsub_topic.topic_id)
    tracer = otel.tracer_provider.get_tracer("producer")
    async with event_scope(handlers=[forwarder], **otel.providers):
        with tracer.start_as_current_span("POST /users") as request_span:
            dispatch("user.created", {"id": 9})
    await forwarder.aclose()
    [message] = pubsub_topic.receive(1)
    event = decode(message.data, message.attributes)
    with consumer_span(event, tracer_provider=otel.tracer_provider):
        pass
    consumer = otel.span("process user.created")
    assert consumer.context.trace_id == request_span.get_span_context().trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == otel.span("create user.created").context.span_id
    assert otel.span(f"send projects/{PROJECT_ID}/topics/{pubsub_topic.topic_id}").attributes


async def test_consumer_span_can_link_instead(otel: Otel) -> None:
    """link=True starts a new trace linked to the producer's span."""
    headers = {"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}
    with consumer_span(headers, "process x", tracer_provider=otel.tracer_provider, link=True):
        pass
    span = otel.span("process x")
    assert span.context.trace_id != int("ab" * 16, 16)
    assert [link.context.span_id for link in span.links] == [int("cd" * 8, 16)]


@pytest.mark.parametrize(
    "message",
    [{}, {"traceparent": "garbage"}, {"MessageAttributes": {}}, {"traceparent": "00-0-0-01"}],
)
async def test_extract_without_valid_context_gives_an_empty_context(message: object) -> None:
    """Missing or malformed trace attributes yield the empty context, never an error."""
    assert dict(extract_trace_context(message)) == {}
