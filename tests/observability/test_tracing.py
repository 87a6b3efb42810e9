"""Spans: dispatch, handler and forwarder batch spans, links or parents, errors."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.constants import FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.otel.attributes import SpanAttributes
from tests.observability.conftest import Otel
from tests.recorders import Recorder

pytestmark = pytest.mark.anyio


def handler_recording(seen: list[Event]) -> LocalHandler:
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def on_any(event: Event) -> None:
        seen.append(event)

    return handler


@pytest.fixture(params=["tracer and meter", "tracer only"])
def providers(request: pytest.FixtureRequest, otel: Otel) -> dict[str, Any]:
    """Both providers, or the tracer's alone (spans without metrics take their own path)."""
    if request.param == "tracer only":
        return {"tracer_provider": otel.tracer_provider}
    return otel.providers


async def test_dispatch_span_is_a_producer_span_with_messaging_attributes(
    otel: Otel, providers: dict[str, Any]
) -> None:
    """Each dispatch makes a PRODUCER `create <event>` span with the message attributes."""
    seen: list[Event] = []
    async with event_scope(handlers=[handler_recording(seen)], **providers):
        dispatch("user.created", {"id": 1})
    span = otel.span("create user.created")
    assert span.kind is SpanKind.PRODUCER
    assert dict(span.attributes or {}) == {
        "messaging.system": "fastapi_events",
        "messaging.destination.name": "user.created",
        "messaging.operation.type": "create",
        "messaging.operation.name": "create",
        "messaging.message.id": seen[0].id,
    }


async def test_handler_span_is_linked_to_the_dispatch_span_by_default(
    otel: Otel, providers: dict[str, Any]
) -> None:
    """The CONSUMER `process` span links to the dispatch span and starts its own trace."""
    seen: list[Event] = []
    async with event_scope(handlers=[handler_recording(seen)], **providers):
        dispatch("user.created", None)
    create, process = otel.span("create user.created"), otel.span("process user.created")
    assert process.kind is SpanKind.CONSUMER
    assert [link.context.span_id for link in process.links] == [create.context.span_id]
    assert process.parent is None
    assert process.attributes is not None
    assert process.attributes["fastapi_events.handler"].endswith("on_any")
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["messaging.message.id"] == seen[0].id


async def test_spans_started_in_a_handler_are_children_of_its_process_span(
    otel: Otel, providers: dict[str, Any]
) -> None:
    """The process span is the current span while its handler runs, and only then."""
    tracer = otel.tracer_provider.get_tracer("test")
    handler = LocalHandler()

    @handler.register(event_name="x")
    async def query(event: Event) -> None:
        with tracer.start_as_current_span("db query"):
            pass

    async with event_scope(handlers=[handler], **providers):
        dispatch("x", 1)
        dispatch("x", 2)
    processes = [s for s in otel.spans() if s.name == "process x"]
    queries = [s for s in otel.spans() if s.name == "db query"]
    assert sorted(q.parent.span_id for q in queries if q.parent) == sorted(
        p.context.span_id for p in processes
    )
    assert [p.parent for p in processes] == [None, None]  # the first one was left


class Audit(Recorder):
    """A handler object whose handle() runs in a process span per event."""

    async def handle_many(self, events: Any) -> None:
        for event in events:
            await self._handle_isolated(event)

    async def handle(self, event: Event) -> None:
        pass


async def test_handler_spans_carry_the_dotted_path_of_the_handler(otel: Otel) -> None:
    """SpanAttributes.HANDLER: module + qualname of a local function or a handler's class."""
    local = LocalHandler()

    @local.register(event_name="x")
    async def on_x(event: Event) -> None:
        pass

    async with event_scope(handlers=[local, Audit()], **otel.providers):
        dispatch("x", None)
    consumers = [s for s in otel.spans() if s.kind is SpanKind.CONSUMER]
    names = sorted(str((s.attributes or {})[SpanAttributes.HANDLER]) for s in consumers)
    assert names == [
        f"{__name__}.Audit",
        f"{__name__}.test_handler_spans_carry_the_dotted_path_of_the_handler.<locals>.on_x",
    ]


async def test_span_linking_off_makes_the_handler_span_a_child(
    otel: Otel, providers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FASTAPI_EVENTS_USE_SPAN_LINKING=0: the handler span is the dispatch span's child."""
    monkeypatch.setenv(FASTAPI_EVENTS_USE_SPAN_LINKING_ENV_VAR, "0")
    async with event_scope(handlers=[handler_recording([])], **providers):
        dispatch("user.created", None)
    create, process = otel.span("create user.created"), otel.span("process user.created")
    assert process.parent is not None
    assert process.parent.span_id == create.context.span_id
    assert process.context.trace_id == create.context.trace_id
    assert process.links == ()


async def test_dispatch_span_is_a_child_of_the_current_span(
    otel: Otel, providers: dict[str, Any]
) -> None:
    """A dispatch inside a request span is part of the request's trace."""
    tracer = otel.tracer_provider.get_tracer("test")
    async with event_scope(handlers=[handler_recording([])], **providers):
        with tracer.start_as_current_span("GET /users") as request_span:
            dispatch("user.created", None)
    create = otel.span("create user.created")
    assert create.parent is not None
    assert create.parent.span_id == request_span.get_span_context().span_id


@pytest.mark.parametrize("payload", [{"id": 1}, [1, 2], "text", None, 3])
async def test_trace_context_is_event_metadata_never_payload(otel: Otel, payload: Any) -> None:
    """The traceparent goes to Event.trace_context; any payload type is left untouched."""
    seen: list[Event] = []
    async with event_scope(handlers=[handler_recording(seen)], **otel.providers):
        dispatch("x", payload)
    [event] = seen
    assert event.payload == payload
    create = otel.span("create x")
    trace_id = f"{create.context.trace_id:032x}"
    assert event.trace_context is not None
    assert event.trace_context["traceparent"].split("-")[1] == trace_id


async def test_a_failing_handler_marks_its_span_as_error(
    otel: Otel, providers: dict[str, Any]
) -> None:
    """The failing function's span has status ERROR and the exception recorded."""
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def broken(event: Event) -> None:
        raise ValueError("boom")

    async with event_scope(handlers=[handler], **providers):
        dispatch("x", None)
    span = otel.span("process x")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in span.events if e.attributes] == ["ValueError"]


async def test_each_local_function_gets_its_own_span(otel: Otel, providers: dict[str, Any]) -> None:
    """Two functions matching one event: two process spans, one error, one ok."""
    handler = LocalHandler()

    @handler.register(event_name="x")
    async def first(event: Event) -> None:
        raise ValueError("boom")

    @handler.register(event_name="x")
    async def second(event: Event) -> None:
        pass

    async with event_scope(handlers=[handler], **providers):
        dispatch("x", None)
    statuses = {
        str((s.attributes or {})["fastapi_events.handler"]).rsplit(".", 1)[1]: s.status.status_code
        for s in otel.spans()
        if s.name == "process x"
    }
    assert statuses == {"first": StatusCode.ERROR, "second": StatusCode.UNSET}


async def test_handler_objects_get_a_span_per_event(otel: Otel) -> None:
    """A BaseEventHandler's handle() runs inside a process span too."""

    class Audit(Recorder):
        async def handle_many(self, events: Any) -> None:
            for event in events:
                await self._handle_isolated(event)

        async def handle(self, event: Event) -> None:
            pass

    async with event_scope(handlers=[Audit()], **otel.providers):
        dispatch("a", None)
        dispatch("b", None)
    assert sorted(s.name for s in otel.spans() if s.kind is SpanKind.CONSUMER) == [
        "process a",
        "process b",
    ]


async def test_no_span_without_providers_or_global_sdk() -> None:
    """With no SDK configured, events carry no trace context (nothing was traced)."""
    seen: list[Event] = []
    async with event_scope(handlers=[handler_recording(seen)]):
        dispatch("x", None)
    assert seen[0].trace_context is None


def test_the_global_provider_is_used_once_configured() -> None:
    """A global SDK provider set after the middleware was built is used (subprocess: the
    global provider can be set once per process)."""
    code = """
import asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.null import NullHandler

async def main():
    scope = event_scope(handlers=[NullHandler()])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    async with scope:
        dispatch("late.configured", None)
    print([s.name for s in exporter.get_finished_spans()])

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "['create late.configured']"
