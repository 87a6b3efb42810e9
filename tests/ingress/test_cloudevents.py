"""CloudEvents over HTTP, as the official SDK's HTTP binding writes them: binary,
structured and batched, under FastAPI and Starlette."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.ingress.kit import (
    FRAMEWORKS,
    Recorder,
    app_for,
    client,
    dumps,
    post,
    structured,
    url_for,
)

pytestmark = pytest.mark.anyio

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
WHEN = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)


def sdk_event(**attributes: Any) -> CloudEvent:
    """A CloudEvent built by the SDK: a fresh id, our time and trace context."""
    base = {
        "type": "order.placed",
        "source": "/shop",
        "id": str(uuid.uuid4()),
        "time": WHEN,
        "traceparent": TRACEPARENT,
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes={**base, **attributes}, data={"order": 7, "note": "ünï"})


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_the_sdk_http_binding_is_accepted(framework: str, mode: str) -> None:
    """A request the SDK's to_binary / to_structured builds is handled: same id, name,
    payload, time and trace context."""
    recorder = Recorder()
    ingress = recorder.ingress()
    event = sdk_event(correlationid="corr-1")
    message = (ce_http.to_binary if mode == "binary" else ce_http.to_structured)(
        event, JSONFormat()
    )
    async with client(app_for(ingress, framework)) as http:
        response = await post(
            http, message.body, message.headers, url=url_for(framework), sign=ingress.verifier
        )
    assert response.status_code == 200, response.text
    [received] = recorder.events
    assert received == ("order.placed", {"order": 7, "note": "ünï"})
    assert received.id == event.get_id()
    assert received.timestamp == WHEN
    assert received.trace_context == {"traceparent": TRACEPARENT}
    assert received.correlation_id == "corr-1"
    recorder.ledger.assert_exact(1)
    await ingress.stop()


async def test_binary_header_values_are_percent_decoded() -> None:
    """ce-* header values are percent-decoded (the HTTP binding's encoding of non-ASCII)."""
    recorder = Recorder()
    ingress = recorder.ingress()
    message = ce_http.to_binary(sdk_event(type="commande.passée"), JSONFormat())
    assert "%C3%A9" in message.headers["ce-type"]
    async with client(app_for(ingress)) as http:
        response = await post(http, message.body, message.headers, sign=ingress.verifier)
    assert response.status_code == 200, response.text
    assert recorder.events[0].key == "commande.passée"


async def test_a_batch_is_handled_in_order() -> None:
    """application/cloudevents-batch+json: an array of SDK-written events, handled in
    order, one answer for all."""
    recorder = Recorder()
    ingress = recorder.ingress()
    events = [sdk_event(type=f"step.{n}") for n in range(3)]
    body = b"[" + b",".join(JSONFormat().write(event) for event in events) + b"]"
    headers = {"content-type": "application/cloudevents-batch+json"}
    async with client(app_for(ingress)) as http:
        response = await post(http, body, headers, sign=ingress.verifier)
    assert response.status_code == 200, response.text
    assert response.json() == {"events": 3, "duplicates": 0}
    assert [e.key for e in recorder.events] == ["step.0", "step.1", "step.2"]
    assert [e.id for e in recorder.events] == [e.get_id() for e in events]


async def test_a_batch_is_all_or_nothing() -> None:
    """One failing event fails the batch (500 naming it); the others were handled, and
    each event has exactly one outcome."""
    ids = [str(uuid.uuid4()) for _ in range(3)]
    recorder = Recorder(failing=lambda event: event.id == ids[1])
    ingress = recorder.ingress()
    body = dumps([structured(i, "step", {"n": n}) for n, i in enumerate(ids)])
    headers = {"content-type": "application/cloudevents-batch+json"}
    async with client(app_for(ingress)) as http:
        response = await post(http, body, headers, sign=ingress.verifier)
    assert response.status_code == 500
    assert response.json()["failed"] == [ids[1]]
    assert recorder.ledger.handled == [ids[0], ids[2]]
    assert recorder.ledger.reported_ids() == [ids[1]]
    recorder.ledger.assert_exact(3)


async def test_structured_data_base64_arrives_as_bytes() -> None:
    """A structured event with data_base64 hands the decoded bytes to the handlers."""
    recorder = Recorder()
    ingress = recorder.ingress()
    event = CloudEvent(
        attributes={"type": "blob", "source": "/x", "id": "b-1"}, data=b"\x00\x01binary"
    )
    message = ce_http.to_structured(event, JSONFormat())
    async with client(app_for(ingress)) as http:
        response = await post(http, message.body, message.headers, sign=ingress.verifier)
    assert response.status_code == 200, response.text
    assert recorder.events[0].payload == b"\x00\x01binary"


async def test_the_http_traceparent_is_the_fallback_trace_context() -> None:
    """Without a traceparent extension, the request's own traceparent header is used."""
    recorder = Recorder()
    ingress = recorder.ingress()
    body = dumps(structured("t-1", "traced", {}))
    headers = {"content-type": "application/cloudevents+json", "traceparent": TRACEPARENT}
    async with client(app_for(ingress)) as http:
        response = await post(http, body, headers, sign=ingress.verifier)
    assert response.status_code == 200, response.text
    assert recorder.events[0].trace_context == {"traceparent": TRACEPARENT}


async def test_handler_spans_link_to_the_senders_trace() -> None:
    """With a tracer provider, the handler span links to the CloudEvent's traceparent."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recorder = Recorder()
    ingress = recorder.ingress(tracer_provider=provider)
    message = ce_http.to_binary(sdk_event(), JSONFormat())
    async with client(app_for(ingress)) as http:
        response = await post(http, message.body, message.headers, sign=ingress.verifier)
    assert response.status_code == 200, response.text
    [span] = [s for s in exporter.get_finished_spans() if s.name == "process order.placed"]
    [link] = span.links
    assert f"{link.context.trace_id:032x}" == TRACEPARENT.split("-")[1]
    assert f"{link.context.span_id:016x}" == TRACEPARENT.split("-")[2]
