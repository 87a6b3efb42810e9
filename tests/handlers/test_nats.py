"""NATSForwardHandler against a real NATS server with JetStream on 127.0.0.1: encoding,
headers, CloudEvents, routing, de-duplication and batching."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import nats
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event

from fastapi_events._event import Event
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.nats import NATS_INSTALL_HINT, NATSForwardHandler
from fastapi_events.serialization import CloudEventsFormat, SerializationError, decode
from tests.handlers.nats_kit import MakeHandler, count_sends, forward, spy
from tests.servers.nats_server import Stream, read_stream

pytestmark = [pytest.mark.anyio, pytest.mark.broker]

MakeStream = Callable[..., Any]


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_importing_the_module_does_not_import_nats() -> None:
    """`import fastapi_events.handlers.nats` leaves nats-py unimported."""
    code = "import sys, fastapi_events.handlers.nats\nprint('nats' in sys.modules)"
    assert _run_python(code) == "False"


def test_missing_nats_says_how_to_install() -> None:
    """Without nats-py, constructing the handler names the extra to install."""
    code = (
        "import sys\nsys.modules['nats'] = None\n"
        "from fastapi_events.handlers.nats import NATSForwardHandler\n"
        "try:\n    NATSForwardHandler('s')\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert _run_python(code) == NATS_INSTALL_HINT
    assert "pip install 'fastapi-events[nats]'" in NATS_INSTALL_HINT


@pytest.mark.parametrize("option", ["ack_timeout", "connect_timeout"])
@pytest.mark.parametrize("value", [0, -1.0, True, "5", math.nan, math.inf])
def test_timeouts_are_checked(option: str, value: Any) -> None:
    """ack_timeout and connect_timeout are finite numbers of seconds > 0, as the NATS
    consumer's connect_timeout."""
    with pytest.raises(ConfigurationError, match=option):
        NATSForwardHandler("s", **{option: value})


@pytest.mark.parametrize(
    "serializer",
    [None, CloudEventsFormat("/shop"), CloudEventsFormat("/shop", mode="binary")],
    ids=["json-array", "cloudevents-structured", "cloudevents-binary"],
)
async def test_messages_decode_back_to_the_events(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str, serializer: Any
) -> None:
    """One message per event, in order, Nats-Msg-Id = the event id; decode() restores it."""
    stream: Stream = await nats_stream()
    handler = nats_handler(stream.subject("orders"), serializer=serializer)
    seen: list[Event] = []
    handler.encode = spy(handler.encode, seen)  # type: ignore[method-assign]
    assert await forward(handler, [("order.placed", {"n": 1}), ("order.paid", [2])]) == []
    messages = await read_stream(nats_url, stream)
    received = [decode(message) for message in messages]
    assert [(r.name, r.payload, r.id) for r in received] == [
        ("order.placed", {"n": 1}, seen[0].id),
        ("order.paid", [2], seen[1].id),
    ]
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [seen[0].id, seen[1].id]


@pytest.mark.parametrize("mode", ["structured", "binary"])
async def test_cloudevents_sdk_reads_both_modes(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str, mode: Any
) -> None:
    """The cloudevents SDK reads what we write: binary as ce-* headers (percent-encoded, as
    its HTTP binding reads them: the NATS binding maps headers the same way; the SDK has no
    NATS module), structured by Content-Type application/cloudevents+json."""
    stream: Stream = await nats_stream()
    source = "/shop \u00e9"
    handler = nats_handler(stream.subject("ce"), serializer=CloudEventsFormat(source, mode=mode))
    event = Event("order.placed", {"n": 1}, correlation_id="req-1")
    await handler.handle_many([event])
    [message] = await read_stream(nats_url, stream)
    cloud_event = from_http_event(HTTPMessage(message.headers, message.data))
    assert (cloud_event.get_id(), cloud_event.get_type(), cloud_event.get_source()) == (
        event.id,
        "order.placed",
        source,
    )
    assert (cloud_event.get_data(), cloud_event.get_datacontenttype()) == (
        {"n": 1},
        "application/json",
    )
    if mode == "binary":  # datacontenttype as the NATS binding names it, too
        assert message.headers["ce-datacontenttype"] == "application/json"
        assert cloud_event.get_extension("correlationid") == "req-1"
    else:
        assert message.headers["Content-Type"] == "application/cloudevents+json"
        assert message.headers["correlation_id"] == "req-1"


async def test_metadata_are_headers_never_payload(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """Default body: the JSON array; name, id, content type, correlation and trace context
    travel in headers."""
    stream: Stream = await nats_stream()
    trace = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    event = Event("a", 1, correlation_id="req-7", trace_context=trace)
    await nats_handler(stream.subject("a")).handle_many([event])
    [message] = await read_stream(nats_url, stream)
    assert message.data == b'["a",1]'
    assert {k: message.headers[k] for k in ("event_name", "event_id", "Content-Type")} == {
        "event_name": "a",
        "event_id": event.id,
        "Content-Type": "application/json",
    }
    assert (message.headers["correlation_id"], message.headers["traceparent"]) == (
        "req-7",
        trace["traceparent"],
    )
    assert decode(message).correlation_id == "req-7"


async def test_header_values_are_percent_encoded_and_decoded(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """Spaces, quotes, %, non-ASCII and CR/LF in a name are percent-encoded on the wire
    (no header injection); decode() gives the exact name back."""
    stream: Stream = await nats_stream()
    name = 'caf\u00e9 "50%"\r\nNats-Msg-Id: forged'
    handler = nats_handler(stream.subject("x"), serializer=CloudEventsFormat("/s", mode="binary"))
    assert await forward(handler, [(name, 1)]) == []
    [message] = await read_stream(nats_url, stream)
    assert message.headers["ce-type"] == "caf%C3%A9%20%2250%25%22%0D%0ANats-Msg-Id:%20forged"
    assert message.headers["Nats-Msg-Id"] == message.headers["ce-id"]
    assert decode(message).name == name


def test_an_invalid_percent_encoding_is_a_serialization_error() -> None:
    """An overlong UTF-8 sequence in a header fails decode() with SerializationError."""

    class Message:
        def __init__(self) -> None:
            self.data = b"1"
            self.headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-type": "%C0%A0"}

    with pytest.raises(SerializationError, match="percent-encoded"):
        decode(Message())


async def test_each_event_goes_to_the_subject_its_function_names(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """A subject function routes each event; each subject keeps dispatch order."""
    stream: Stream = await nats_stream()
    handler = nats_handler(lambda event: stream.subject(*event.key.split(".")))
    events = [("orders.new", 1), ("users.new", 2), ("orders.paid", 3)]
    assert await forward(handler, events) == []
    messages = await read_stream(nats_url, stream)
    by_subject = [(m.subject, decode(m).payload) for m in messages]
    assert sorted(by_subject, key=lambda pair: pair[1]) == [
        (stream.subject("orders", "new"), 1),
        (stream.subject("users", "new"), 2),
        (stream.subject("orders", "paid"), 3),
    ]
    orders = [payload for subject, payload in by_subject if ".orders." in subject]
    assert orders == [1, 3]


async def test_an_unserialisable_event_fails_alone(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """A serializer failure is reported once; its siblings are stored."""
    stream: Stream = await nats_stream()
    failures = await forward(
        nats_handler(stream.subject("a")), [("a", 1), ("bad", object()), ("c", 3)]
    )
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", SerializationError)]
    assert [decode(m).name for m in await read_stream(nats_url, stream)] == ["a", "c"]


async def test_an_event_sent_twice_is_stored_once(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """The same event again (a retry after a lost ack) is acked as a duplicate: one message."""
    stream: Stream = await nats_stream()
    handler = nats_handler(stream.subject("a"))
    event = Event("a", 1)
    await handler.handle_many([event])
    await handler.handle_many([event])
    assert [decode(m).id for m in await read_stream(nats_url, stream)] == [event.id]


async def test_batches_publish_then_await_acks_and_a_given_client_stays_open(
    nats_stream: MakeStream, nats_handler: MakeHandler, nats_url: str
) -> None:
    """max_batch_size messages per send(); a client passed in is left open at aclose()."""
    stream: Stream = await nats_stream()
    nc = await nats.connect(nats_url)
    sends: list[int] = []
    handler = nats_handler(stream.subject("a"), client=nc, max_batch_size=4)
    handler.send = count_sends(handler.send, sends)  # type: ignore[method-assign]
    assert await forward(handler, [("n", i) for i in range(10)]) == []
    await handler.aclose()
    assert nc.is_connected
    await nc.close()
    messages = await read_stream(nats_url, stream)
    assert (sends, [decode(m).payload for m in messages]) == ([4, 4, 2], list(range(10)))
