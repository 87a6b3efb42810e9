"""The consumer base (its loop, handling and stop), through SQSConsumer on moto."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from fastapi_events._event import Event
from fastapi_events.consumers import UNDECODABLE_EVENT, IdempotencyStore, SQSConsumer
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from tests.consumers.kit import PATIENCE, forward, scripted, until
from tests.servers.sqs import REGION, SQSQueue

pytestmark = pytest.mark.anyio


def consumer_for(queue: SQSQueue, handlers: list[Any], **options: Any) -> SQSConsumer:
    options.setdefault("wait_time_seconds", 0)
    options.setdefault("backoff", 0)
    return SQSConsumer(
        queue.url, handlers=handlers, region_name=REGION, endpoint_url=queue.endpoint, **options
    )


async def test_events_a_handler_dispatches_go_to_the_same_handlers(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Chaining works as in the app: dispatch() in a handler reaches the consumer's handlers."""
    queue = sqs_queue()
    await forward(queue, [Event("order.paid", {"order": 1})])
    handler, calls = scripted(pattern="invoice.*")

    @handler.register(event_name="order.paid")
    async def chain(event: Event) -> None:
        dispatch("invoice.sent", {"order": event.payload["order"]})

    async with consumer_for(queue, [handler]):
        await until(lambda: calls.finished)
    assert [(e.name, e.payload) for e in calls.finished] == [("invoice.sent", {"order": 1})]


async def test_a_foreign_message_reaches_dead_letter_with_its_attributes(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Nothing of a foreign message is lost: its attributes come with its body."""
    queue = sqs_queue()
    queue.client.send_message(
        QueueUrl=queue.url,
        MessageBody="x",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )
    dead, buried = scripted()
    consumer = consumer_for(queue, [scripted()[0]], dead_letter=dead)
    async with consumer:
        await until(lambda: buried.finished)
    [stand_in] = buried.finished
    assert stand_in.name == UNDECODABLE_EVENT
    assert (stand_in.payload["body"], stand_in.payload["attributes"]) == ("x", {"k": "v"})
    assert stand_in.payload["error"].startswith("SerializationError: ")


async def test_a_second_stop_cuts_the_first_ones_timeout_short(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """stop(timeout=0) during a patient stop (a second SIGTERM) gives back at once."""
    queue = sqs_queue()
    await forward(queue, [Event("order.paid", {"order": 1})])
    handler, calls = scripted(gate=asyncio.Event())  # never finishes
    consumer = consumer_for(queue, [handler])
    await consumer.start()
    await until(lambda: calls.started)
    patient = asyncio.ensure_future(consumer.stop(timeout=PATIENCE * 4))
    await asyncio.sleep(0.05)
    await consumer.stop(timeout=0)
    await patient
    assert (consumer.stats.released, consumer.running) == (1, False)
    assert len(queue.receive_all(1)) == 1


@pytest.mark.parametrize("transport", ["asyncio", "botocore"])
async def test_a_poll_open_at_stop_gives_back_what_it_returns(
    sqs_queue: Callable[..., SQSQueue], transport: str
) -> None:
    """stop() leaves an open long poll to finish (its thread, or a task on the loop),
    which makes its messages visible again."""
    queue = sqs_queue()
    handler, calls = scripted()
    consumer = consumer_for(queue, [handler], wait_time_seconds=2, transport=transport)
    await consumer.start()
    await asyncio.sleep(0.1)  # the long poll is open
    await consumer.stop()
    await forward(queue, [Event("order.paid", {"order": 1})])
    found: list[Any] = []
    while not found:  # the abandoned poll takes it, then gives it back
        found = queue.client.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1).get(
            "Messages", []
        )
    assert (calls.started, consumer.stats.received) == ([], 0)


async def test_a_store_of_your_own_is_asked_and_told(sqs_queue: Callable[..., SQSQueue]) -> None:
    """deduplicate=store: seen() before handling, remember() after success."""

    class Store(IdempotencyStore):
        def __init__(self) -> None:
            self.asked: list[str] = []
            self.told: list[str] = []

        async def seen(self, event_id: str) -> bool:
            self.asked.append(event_id)
            return False

        async def remember(self, event_id: str) -> None:
            self.told.append(event_id)

    queue = sqs_queue()
    sent = Event("order.paid", {"order": 1})
    await forward(queue, [sent])
    store, (handler, _) = Store(), scripted()
    async with consumer_for(queue, [handler], deduplicate=store):
        await until(lambda: store.told)
    assert (store.asked, store.told) == ([sent.id], [sent.id])


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"max_deliveries": 0}, "max_deliveries"),
        ({"backoff": 10, "max_backoff": 1}, "max_backoff"),
        ({"deduplicate": "yes"}, "deduplicate"),
        ({"on_error": "log"}, "on_error"),
        ({"shutdown_timeout": -1}, "shutdown_timeout"),
        ({"handlers": []}, "handlers"),
    ],
)
def test_wrong_options_are_refused_at_construction(options: dict[str, Any], named: str) -> None:
    """Each option is checked once, and the error names it."""
    options.setdefault("handlers", [scripted()[0]])
    with pytest.raises(ConfigurationError, match=named):
        SQSConsumer("http://127.0.0.1:1/q", **options)


def test_the_event_catalogue_lists_a_consumer_and_its_functions() -> None:
    """asyncapi_document(consumers=[...]) finds the queue and the handler functions."""
    from fastapi_events.catalogue import asyncapi_document

    handler, _ = scripted(pattern="order.*")
    url = "https://sqs.eu-west-1.amazonaws.com/1/orders-in"
    consumer = SQSConsumer(url, handlers=[handler], region_name="eu-west-1")
    document = asyncapi_document([], consumers=[consumer])
    assert document["channels"]["sqs.orders-in"]["address"] == url
    assert document["operations"]["work"]["channel"] == {"$ref": "#/channels/sqs.orders-in"}
