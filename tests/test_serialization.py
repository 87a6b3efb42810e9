"""fastapi_events.serialization: bodies, attributes, CloudEvents and decoding them back."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Any

import pydantic
import pytest

from fastapi_events._event import Event
from fastapi_events._received import kafka_headers
from fastapi_events.errors import ConfigurationError
from fastapi_events.serialization import (
    CloudEventsFormat,
    EncodedMessage,
    MessageFormat,
    SerializationError,
    decode,
    dumps,
    encode,
    message_attributes,
)
from tests.leaks import MAX_MESSAGE, Opaque, assert_not_leaked, nested, secret

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    when: datetime.date


class User(pydantic.BaseModel):
    id: uuid.UUID
    joined: datetime.datetime


def test_default_body_is_the_0_12_json_array() -> None:
    """The default body is ["name", payload], the format of fastapi-events 0.12."""
    message = encode(Event("user.created", {"id": 1}))
    assert json.loads(message.body) == ["user.created", {"id": 1}]


def test_enum_names_are_sent_as_their_value() -> None:
    """An Enum event name travels as its value, as handlers match it."""
    message = encode(Event(Color.RED, None, "red"))
    assert json.loads(message.body) == ["red", None]
    assert message.attributes["event_name"] == "red"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "2026-01-02T03:04:05+00:00",
        ),
        (datetime.date(2026, 1, 2), "2026-01-02"),
        (datetime.time(3, 4), "03:04:00"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (decimal.Decimal("1.10"), "1.10"),
        (Color.RED, "red"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"a"}), ["a"]),
        (b"\x00\xff", base64.b64encode(b"\x00\xff").decode()),
        (Point(1, datetime.date(2026, 1, 2)), {"x": 1, "when": "2026-01-02"}),
    ],
)
def test_encoder_handles_the_usual_payload_types(value: Any, expected: Any) -> None:
    """datetime/date/time, UUID, Decimal, Enum, sets, bytes and dataclasses are encoded."""
    assert json.loads(dumps({"v": value})) == {"v": expected}


def test_pydantic_models_are_dumped_not_stringified() -> None:
    """A pydantic model in a payload becomes its JSON dump, not its str()."""
    user = User(id=uuid.UUID(int=2), joined=datetime.datetime(2026, 1, 1))
    body = json.loads(encode(Event("u", {"user": user})).body)
    assert body[1] == {"user": {"id": str(uuid.UUID(int=2)), "joined": "2026-01-01T00:00:00"}}


def test_unserialisable_payload_names_the_event_type_and_fix() -> None:
    """An object json cannot encode is a SerializationError naming event, type and fix."""
    event = Event("job.done", {"x": object()})
    with pytest.raises(SerializationError, match=r"'job.done'.*object.*serializer=") as info:
        encode(event)
    assert event.id in str(info.value)


@pytest.mark.parametrize("fmt", [None, CloudEventsFormat("/svc")], ids=["array", "cloudevents"])
def test_unserialisable_value_is_named_by_type_and_path_never_by_value(
    fmt: MessageFormat | None,
) -> None:
    """The error names the type and where it is in the body; the value's repr stays out."""
    marker = secret()
    event = Event("order.paid", {"cards": [{"number": Opaque(marker)}]})
    with pytest.raises(SerializationError, match=r"type Opaque.*\.cards\[0\]\.number") as info:
        encode(event, fmt)
    assert_not_leaked(marker, exceptions=[info.value])


def test_dumps_names_type_and_path() -> None:
    """dumps(): "Object of type X is not JSON serializable (at $.path)"."""
    marker = secret()
    with pytest.raises(TypeError) as info:
        dumps({"a": [1, {"b c": {Opaque(marker)}}]})
    assert str(info.value) == (
        "Object of type Opaque is not JSON serializable (at $.a[1]['b c'][0])"
    )


def test_too_deeply_nested_payload_is_a_serialization_error() -> None:
    """A payload nested past the recursion limit is a SerializationError for its event."""
    with pytest.raises(SerializationError, match="nested too deeply"):
        encode(Event("deep", nested(5000)))


def test_huge_event_name_in_a_serialization_error_is_capped() -> None:
    """The message echoes a 1 MiB event name capped."""
    with pytest.raises(SerializationError) as info:
        encode(Event("n" * 2**20, object()))
    assert len(str(info.value)) <= MAX_MESSAGE


def test_nan_is_refused() -> None:
    """NaN is not JSON; it is an error instead of a body other languages cannot parse."""
    with pytest.raises(SerializationError, match="Out of range float"):
        encode(Event("x", float("nan")))


def test_metadata_goes_to_attributes_never_the_payload() -> None:
    """Name, id, content type and trace context are attributes; the payload is untouched."""
    event = Event("x", [1, 2])
    event.trace_context = {**TRACE, "tracestate": ""}
    message = encode(event)
    assert message.attributes == {
        "event_name": "x",
        "event_id": event.id,
        "event_time": f"{event.unix_time:.6f}",
        "content_type": "application/json",
        **TRACE,
    }
    assert json.loads(message.body) == ["x", [1, 2]]
    assert decode(message.body, message.attributes).time == event.timestamp


def test_a_0_12_serializer_gets_the_name_payload_pair() -> None:
    """A plain serializer callable is called with (name, payload), like 0.12's."""
    message = encode(Event("x", {"a": 1}), lambda event: json.dumps(event))
    assert json.loads(message.body) == ["x", {"a": 1}]
    assert message.attributes["event_name"] == "x"


def test_a_serializer_returning_neither_str_nor_bytes_is_an_error() -> None:
    """A serializer must return str or bytes; anything else is reported for that event."""
    with pytest.raises(SerializationError, match="returned int"):
        encode(Event("x", 1), lambda event: 42)


def test_a_custom_message_format_sees_the_whole_event() -> None:
    """A MessageFormat subclass gets the Event with its metadata."""

    class IdOnly(MessageFormat):
        def encode(self, event: Event) -> EncodedMessage:
            return EncodedMessage(event.id.encode(), {"kind": "id"})

    event = Event("x", 1)
    assert encode(event, IdOnly()) == EncodedMessage(event.id.encode(), {"kind": "id"})


def test_structured_cloudevent_envelope() -> None:
    """Structured mode: a CloudEvents 1.0 JSON envelope with the payload as data."""
    event = Event("order.paid", {"total": decimal.Decimal("9.50")})
    message = encode(event, CloudEventsFormat("/shop"))
    assert json.loads(message.body) == {
        "specversion": "1.0",
        "id": event.id,
        "source": "/shop",
        "type": "order.paid",
        "time": event.timestamp.isoformat(),
        "datacontenttype": "application/json",
        "data": {"total": "9.50"},
    }
    assert message.attributes["content_type"] == "application/cloudevents+json"


def test_binary_cloudevent_uses_ce_attributes() -> None:
    """Binary mode: ce-* attributes and the payload alone as the body."""
    event = Event("order.paid", {"total": 1})
    event.trace_context = TRACE
    message = encode(event, CloudEventsFormat("/shop", mode="binary"))
    assert json.loads(message.body) == {"total": 1}
    assert message.attributes == {
        "ce-specversion": "1.0",
        "ce-id": event.id,
        "ce-source": "/shop",
        "ce-type": "order.paid",
        "ce-time": event.timestamp.isoformat(),
        "content-type": "application/json",
        **TRACE,
    }


@pytest.mark.parametrize(("source", "mode"), [("", "structured"), ("/s", "both")])
def test_cloudevents_options_are_checked(source: str, mode: Any) -> None:
    """An empty source or an unknown mode fails at construction."""
    with pytest.raises(ConfigurationError, match="CloudEventsFormat"):
        CloudEventsFormat(source, mode=mode)


@pytest.mark.parametrize(
    "fmt", [None, CloudEventsFormat("/svc"), CloudEventsFormat("/svc", mode="binary")]
)
def test_decode_round_trips_every_format(fmt: MessageFormat | None) -> None:
    """decode() reads back name, payload, id and trace context of every format."""
    event = Event("user.created", {"id": 7})
    event.trace_context = TRACE
    message = encode(event, fmt)
    received = decode(message.body, message.attributes)
    name, payload = received
    assert (name, payload, received.id, received.trace_context) == (
        "user.created",
        {"id": 7},
        event.id,
        TRACE,
    )


def test_decode_reads_sqs_and_pubsub_message_shapes() -> None:
    """decode() accepts an SQS receive_message entry and a Pub/Sub message object."""
    event = Event("x", 1)
    message = encode(event)
    sqs = {
        "Body": message.body.decode(),
        "MessageAttributes": {
            k: {"DataType": "String", "StringValue": v} for k, v in message.attributes.items()
        },
    }

    @dataclasses.dataclass
    class PubSubMessage:
        data: bytes
        attributes: dict[str, str]

    for received in (decode(sqs), decode(PubSubMessage(message.body, message.attributes))):
        assert (tuple(received), received.id) == (("x", 1), event.id)


@pytest.mark.parametrize("fmt", [None, CloudEventsFormat("/svc", mode="binary")])
def test_decode_reads_kafka_record_shapes(fmt: MessageFormat | None) -> None:
    """decode() accepts a Kafka record: headers as (name, bytes) pairs or a dict,
    value and headers as attributes (aiokafka) or methods (confluent-kafka)."""
    event = Event("x", 1, correlation_id="req-1")
    message = encode(event, fmt)
    headers = kafka_headers(message.attributes)
    assert ("ce_id" if fmt else "event_id", event.id.encode()) in headers

    @dataclasses.dataclass
    class Record:
        value: bytes
        headers: Any

    class ConfluentMessage:
        def value(self) -> bytes:
            return message.body

        def headers(self) -> list[tuple[str, bytes]]:
            return headers

    shapes = [Record(message.body, headers), Record(message.body, dict(headers))]
    for received in [decode(shape) for shape in (*shapes, ConfluentMessage())]:
        assert (tuple(received), received.id) == (("x", 1), event.id)
        assert received.correlation_id == "req-1"
    assert message_attributes(shapes[0])["content-type"] == "application/json"


@pytest.mark.parametrize("prefix", ["cloudEvents_", "cloudEvents:"])
def test_decode_reads_amqp_messages_and_headers(prefix: str) -> None:
    """An AMQP message (.body, .headers), or a body and its headers (bytes values, as pika
    gives them), with binary CloudEvents under either prefix of the AMQP binding."""
    event = Event("order.placed", {"n": 1}, trace_context=TRACE)
    message = encode(event, CloudEventsFormat("/shop", mode="binary"))
    headers = {
        (prefix + key[3:] if key.startswith("ce-") else key): value.encode()
        for key, value in message.attributes.items()
    }

    @dataclasses.dataclass
    class AmqpMessage:
        body: bytes
        headers: dict[str, bytes]

    for received in (decode(AmqpMessage(message.body, headers)), decode(message.body, headers)):
        assert (tuple(received), received.id) == (("order.placed", {"n": 1}), event.id)
        assert (received.source, received.trace_context) == ("/shop", TRACE)


def test_decode_reads_an_sns_notification_inside_sqs_or_alone() -> None:
    """An SNS notification (an SQS body without raw delivery, or Lambda's record["Sns"])
    decodes to the message it carries, with its attributes."""
    event = Event("x", 1)
    message = encode(event)
    notification = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": message.body.decode(),
        "MessageAttributes": {
            k: {"Type": "String", "Value": v} for k, v in message.attributes.items()
        },
    }
    sqs = {"Body": json.dumps(notification), "MessageAttributes": {}}
    for received in (decode(sqs), decode(notification)):
        assert (tuple(received), received.id) == (("x", 1), event.id)
    assert message_attributes(sqs) == message_attributes(notification) == message.attributes


def test_a_read_only_mapping_decodes_as_the_same_dict_does() -> None:
    """A plain dict takes a shorter path than other mappings (no AMQP test): an SQS
    message, an SNS notification, a Redis entry, a structured CloudEvent and a foreign
    mapping decode the same either way."""
    from types import MappingProxyType

    event = Event("x", {"n": 1}, trace_context=TRACE)
    message = encode(event)
    cloudevent = json.loads(encode(event, CloudEventsFormat("/shop")).body)
    sqs_attributes = {
        k: {"DataType": "String", "StringValue": v} for k, v in message.attributes.items()
    }
    notification = {
        "Type": "Notification",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": message.body.decode(),
    }
    shapes: list[dict[str, Any]] = [
        {"Body": message.body.decode(), "MessageAttributes": sqs_attributes},
        notification,
        {"body": message.body, **message.attributes},
        cloudevent,
    ]
    for shape in shapes:
        as_dict, as_proxy = decode(shape), decode(MappingProxyType(shape))
        assert (tuple(as_dict), as_dict.id, as_dict.time) == (
            tuple(as_proxy),
            as_proxy.id,
            as_proxy.time,
        )
        assert as_dict.trace_context == as_proxy.trace_context
        assert message_attributes(shape) == message_attributes(MappingProxyType(shape))
    with pytest.raises(SerializationError):
        decode(MappingProxyType({"unrelated": "x"}))


def test_decode_rejects_a_foreign_message() -> None:
    """A body in none of the formats is a SerializationError, not a wrong event."""
    with pytest.raises(SerializationError, match="not a fastapi_events message"):
        decode(b'{"hello": "world"}')


@pytest.mark.parametrize("as_bytes", [True, False])
def test_decode_error_never_quotes_the_body(as_bytes: bool) -> None:
    """A foreign message is described by its type and size, not by its content."""
    body = json.dumps({"card": secret()})
    with pytest.raises(SerializationError, match=f"value of {len(body)} ") as info:
        decode(body.encode() if as_bytes else body)
    assert_not_leaked(json.loads(body)["card"], exceptions=[info.value])


def test_message_attributes_reads_every_received_shape() -> None:
    """SQS-shaped values, plain mappings and decoded events all give str attributes."""
    sqs = {"Body": "[]", "MessageAttributes": {"a": {"DataType": "String", "StringValue": "1"}}}
    assert message_attributes(sqs) == {"a": "1"}
    assert message_attributes({"a": "1"}) == {"a": "1"}
    message = encode(Event("x", 1))
    received = decode(message.body, message.attributes)
    assert message_attributes(received) == message.attributes
