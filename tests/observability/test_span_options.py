"""One span per event (``otel_spans="one"``), unsampled spans doing no attribute work, and
the span context kept on the event (reused, re-parsed when replaced, dropped when pickled)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events._otel_impl import OtelTelemetry
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.handlers.forwarders import MemoryForwarder
from tests.observability.conftest import Otel
from tests.observability.test_tracing import handler_recording

pytestmark = pytest.mark.anyio


async def test_one_span_per_event_records_only_the_process_span(otel: Otel) -> None:
    """otel_spans="one": no create span; the process span links to the request's span."""
    seen: list[Event] = []
    tracer = otel.tracer_provider.get_tracer("test")
    async with event_scope(handlers=[handler_recording(seen)], otel_spans="one", **otel.providers):
        with tracer.start_as_current_span("GET /users") as request_span:
            dispatch("user.created", None)
    assert sorted(s.name for s in otel.spans()) == ["GET /users", "process user.created"]
    process = otel.span("process user.created")
    request_id = request_span.get_span_context().span_id
    assert [link.context.span_id for link in process.links] == [request_id]
    assert process.kind is SpanKind.CONSUMER
    assert seen[0].trace_context is not None
    assert seen[0].trace_context["traceparent"].split("-")[2] == f"{request_id:016x}"


async def test_one_span_per_event_without_a_current_span_has_no_link(otel: Otel) -> None:
    """otel_spans="one" outside any span: a process span, no link, no trace context."""
    seen: list[Event] = []
    async with event_scope(handlers=[handler_recording(seen)], otel_spans="one", **otel.providers):
        dispatch("x", None)
    assert [(s.name, s.links) for s in otel.spans()] == [("process x", ())]
    assert seen[0].trace_context is None


async def test_a_batch_span_links_each_distinct_dispatch_context_once(otel: Otel) -> None:
    """Three events dispatched under one request span (one span per event): one link."""
    tracer = otel.tracer_provider.get_tracer("test")
    forwarder = MemoryForwarder(lambda event: "queue")
    async with event_scope(handlers=[forwarder], otel_spans="one", **otel.providers):
        with tracer.start_as_current_span("POST /orders") as request_span:
            for index in range(3):
                dispatch("order.created", index)
    send = otel.span("send queue")
    request_id = request_span.get_span_context().span_id
    assert [link.context.span_id for link in send.links] == [request_id]
    assert dict(send.attributes or {})["messaging.batch.message_count"] == 3


@pytest.mark.parametrize("value", ["three", 2, None, b"one"])
def test_otel_spans_must_be_one_or_two(value: Any) -> None:
    """A bad otel_spans fails at construction, naming the type it got and the fix."""
    with pytest.raises(ConfigurationError) as caught:
        EventHandlerASGIMiddleware(None, handlers=[], otel_spans=value)  # type: ignore[arg-type]
    message = str(caught.value)
    assert type(value).__name__ in message and "otel_spans='one'" in message
    if isinstance(value, str):
        assert value not in message  # the type is named, never the value


class CountingDropSampler(Sampler):
    """Samples nothing; counts its decisions."""

    def __init__(self) -> None:
        self.decisions = 0

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        self.decisions += 1
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "CountingDropSampler"


@pytest.mark.parametrize("spans", ["two", "one"])
async def test_unsampled_spans_build_no_attributes(
    monkeypatch: pytest.MonkeyPatch, spans: str
) -> None:
    """A sampler that records nothing: no attribute dict is built, no event id is made,
    and the (unsampled) trace context still travels with the event."""
    built: list[str] = []
    real = OtelTelemetry._message_attributes

    def counting(base: dict[str, Any], event: Event) -> Any:
        built.append(base["messaging.operation.type"])
        return real(base, event)

    monkeypatch.setattr(OtelTelemetry, "_message_attributes", staticmethod(counting))
    sampler = CountingDropSampler()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    seen: list[Event] = []
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def keep(event: Event) -> None:
        seen.append(event)

    async with event_scope(handlers=[handler], tracer_provider=provider, otel_spans=spans):
        with tracer.start_as_current_span("GET /"):
            for index in range(5):
                dispatch("x", index)
    assert built == [] and exporter.get_finished_spans() == ()
    assert sampler.decisions == 1 + (10 if spans == "two" else 5)  # the sampler was asked
    assert all("_id" not in event.__dict__ for event in seen)  # no id was generated
    flags = {int((e.trace_context or {})["traceparent"][-2:], 16) for e in seen}
    assert {flag & 1 for flag in flags} == {0}  # W3C "sampled" flag off


async def test_a_trace_context_set_by_hand_replaces_the_captured_one(otel: Otel) -> None:
    """Setting Event.trace_context after dispatch: the handler span links to the new one."""
    replaced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with event_scope(handlers=[handler_recording([])], **otel.providers) as buffer:
        dispatch("x", None)
        buffer.events[0].trace_context = {"traceparent": replaced}
    [link] = otel.span("process x").links
    assert link.context.span_id == 0xB7AD6B7169203331


async def test_a_pickled_traced_event_keeps_its_headers_and_links(otel: Otel) -> None:
    """The captured span context is not pickled; the headers are, and still link."""
    seen: list[Event] = []
    async with event_scope(handlers=[handler_recording(seen)], **otel.providers):
        dispatch("x", {"a": 1})
    copy = pickle.loads(pickle.dumps(seen[0]))
    assert "_trace_origin" not in copy.__dict__
    assert copy.trace_context == seen[0].trace_context
    otel.exporter.clear()
    async with event_scope(handlers=[handler_recording([])], **otel.providers) as buffer:
        buffer.add(copy)
    create_id = int(copy.trace_context["traceparent"].split("-")[2], 16)
    assert [link.context.span_id for link in otel.span("process x").links] == [create_id]
