"""The public forwarder base: routing, batching, per-event outcome, retries, health, and a
send already on the wire accounted exactly under interruption."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.forwarder import (
    Failure,
    OutgoingMessage,
    RetryPolicy,
    SendResult,
)
from fastapi_events.handlers.null import NullHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import SerializationError
from tests.accounting import Ledger, call, dispatching_app
from tests.handlers.forwarders import MemoryForwarder, Outcome, forward
from tests.servers.sqs import REGION, FaultyProxy, SQSQueue

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("answer_in_time", [True, False], ids=["answered", "no-answer"])
async def test_a_drain_cancelled_mid_send_neither_resends_nor_loses(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, answer_in_time: bool
) -> None:
    """Cancelled while SQS holds the batch: delivered events are neither resent nor reported."""
    queue = sqs_queue()
    handler = SQSForwardHandler(queue.url, REGION, endpoint_url=sqs_proxy.url)
    handler.in_flight_grace = 5.0 if answer_in_time else 0.05
    ledger = Ledger()
    middleware = EventHandlerASGIMiddleware(
        dispatching_app(10), handlers=[handler], on_error=ledger.on_error, shutdown_timeout=0
    )
    await handler.astart()
    sqs_proxy.hold = True
    request = asyncio.ensure_future(call(middleware))
    assert await asyncio.to_thread(sqs_proxy.held.wait, 10)
    request.cancel()
    if answer_in_time:
        await asyncio.sleep(0.05)  # the cancellation reaches the forwarder first
        sqs_proxy.released.set()
    with pytest.raises(asyncio.CancelledError):
        await request
    await middleware.pipeline.shutdown()
    sqs_proxy.released.set()
    received = {m["MessageAttributes"]["event_id"]["StringValue"] for m in queue.receive_all(10)}
    if answer_in_time:
        assert sqs_proxy.sends() == [10], "nothing was sent twice"
        assert (len(received), ledger.reported) == (10, [])
    else:  # no answer within the grace: the outcome is unknown, so the events are owed
        # (sent again in the background, and reported when shutdown cuts that off)
        assert sqs_proxy.sends()[0] == 10
        assert len(ledger.reported) == 10
    assert len(set(ledger.reported_ids())) == len(ledger.reported)


# --- the public base, with a scripted in-memory forwarder ----------------------------------

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


def _fail(index: int, error: Exception, retryable: bool = False) -> Outcome:
    def outcome(batch: Sequence[OutgoingMessage]) -> SendResult:
        return SendResult([Failure(batch[index], error, retryable)])

    return outcome


def _wait(coroutine_function: Any) -> Outcome:
    return coroutine_function  # type: ignore[no-any-return]


async def test_events_are_grouped_by_destination_in_dispatch_order() -> None:
    """A destination function routes each event; each destination keeps dispatch order."""
    handler = MemoryForwarder(lambda event: f"topic.{event.key.split('.')[0]}")
    events = [("orders.new", 1), ("users.new", 2), ("orders.paid", 3), ("users.gone", 4)]
    assert await forward(handler, events) == []
    assert handler.sent == [("topic.orders", [1, 3]), ("topic.users", [2, 4])]


async def test_a_destination_function_failing_reports_its_event_only() -> None:
    """A destination function that raises or gives a non-str fails that event alone."""
    handler = MemoryForwarder(lambda event: {"a": "box", "b": ""}.get(event.key) or 7)
    failures = await forward(handler, [("a", 1), ("b", 2), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("b", ConfigurationError),
        ("c", ConfigurationError),
    ]
    assert [str(x) for _, _, x in failures] == [
        "the destination function must give a non-empty str, got int for event 'b'",
        "the destination function must give a non-empty str, got int for event 'c'",
    ]
    assert handler.delivered == [("box", 1)]


@pytest.mark.parametrize("destination", ["", None, 3])
def test_a_destination_must_be_a_name_or_a_function(destination: Any) -> None:
    """The destination is checked at construction."""
    with pytest.raises(ConfigurationError, match="destination must be"):
        MemoryForwarder(destination)


@pytest.mark.parametrize("option", ["max_batch_size", "max_batch_bytes"])
@pytest.mark.parametrize("value", [0, -1, True, 2.5])
def test_batch_limits_are_checked(option: str, value: Any) -> None:
    """Batch limits are ints >= 1 (or None)."""
    with pytest.raises(ConfigurationError, match=option):
        MemoryForwarder(**{option: value})


async def test_batches_respect_count_and_bytes() -> None:
    """max_batch_size and max_batch_bytes cut batches in order; a big message goes alone."""
    handler = MemoryForwarder(max_batch_size=3, max_batch_bytes=400)
    payloads = [1, 2, 3, 4, "x" * 300, 5, 6]
    assert await forward(handler, [("e", p) for p in payloads]) == []
    assert [batch for _, batch in handler.sent] == [[1, 2, 3], [4], ["x" * 300], [5, 6]]


async def test_an_event_failing_to_encode_is_reported_alone() -> None:
    """A serializer failure fails its event; its siblings are sent in the same batch."""
    handler = MemoryForwarder()
    failures = await forward(handler, [("a", 1), ("bad", object()), ("c", 3)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("bad", SerializationError)]
    assert handler.sent == [("box", [1, 3])]


async def test_a_permanent_failure_is_reported_and_a_retryable_one_retried() -> None:
    """Per-message outcome: permanent reported once, retryable sent again alone."""
    handler = MemoryForwarder(retry=FAST)
    handler.outcomes = [
        lambda batch: SendResult(
            [Failure(batch[0], ValueError("no")), Failure(batch[2], OSError("busy"), True)]
        )
    ]
    failures = await forward(handler, [("e", 1), ("e", 2), ("e", 3)])
    assert [(e.payload, type(x)) for e, _, x in failures] == [(1, ValueError)]
    assert handler.sent == [("box", [1, 2, 3]), ("box", [3])]
    assert sorted(p for _, p in handler.delivered) == [2, 3]


async def test_retries_are_bounded_then_the_last_error_is_reported() -> None:
    """A message failing at every attempt is reported once, after RetryPolicy.attempts."""
    handler = MemoryForwarder(retry=FAST)
    handler.outcomes = [_fail(0, OSError(f"try {n}"), retryable=True) for n in range(3)]
    failures = await forward(handler, [("e", 1)])
    assert [str(x) for _, _, x in failures] == ["try 2"]
    assert len(handler.sent) == 3


async def test_a_transient_raise_retries_the_batch_a_permanent_one_reports_it() -> None:
    """send() raising: is_transient() errors are retried; others report every event."""
    handler = MemoryForwarder(retry=FAST)
    handler.outcomes = [ConnectionResetError("reset")]
    assert await forward(handler, [("e", 1), ("e", 2)]) == []
    assert handler.sent == [("box", [1, 2])] * 2
    handler.outcomes = [KeyError("bad request")]
    failures = await forward(handler, [("e", 3), ("e", 4)])
    assert [(e.payload, type(x)) for e, _, x in failures] == [(3, KeyError), (4, KeyError)]


async def test_send_returning_something_else_reports_the_batch() -> None:
    """A send() that returns neither a SendResult nor None fails its batch, by type."""
    handler = MemoryForwarder()
    handler.outcomes = [lambda batch: "ok"]  # type: ignore[list-item,return-value]
    failures = await forward(handler, [("e", 1)])
    assert [type(x) for _, _, x in failures] == [TypeError]
    assert "got str" in str(failures[0][2])


async def test_broker_down_at_start_up_reports_every_event() -> None:
    """A connect that keeps failing reports each event once, after the retries."""
    handler = MemoryForwarder(retry=FAST)
    handler.connect_error = ConnectionRefusedError("refused")
    failures = await forward(handler, [("a", 1), ("b", 2)])
    assert [(e.key, type(x)) for e, _, x in failures] == [
        ("a", ConnectionRefusedError),
        ("b", ConnectionRefusedError),
    ]
    assert (handler.connects, handler.sent) == (3, [])


async def test_racing_first_events_connect_once_and_aclose_disconnects() -> None:
    """Concurrent first sends share one connect; aclose() disconnects; the next reconnects."""
    handler = MemoryForwarder()
    await asyncio.gather(*[handler.handle_many([Event("e", n)]) for n in range(5)])
    client = handler._client
    assert (handler.connects, client is not None) == (1, True)
    await handler.aclose()
    assert handler.disconnected == [client]
    await handler.handle(Event("e", 9))
    assert handler.connects == 2


async def test_handler_health_by_default_and_for_a_forwarder() -> None:
    """check_health(): a plain handler is healthy; a forwarder connects and pings."""
    assert (await NullHandler().check_health()).healthy
    handler = MemoryForwarder("box")
    status = await handler.check_health()
    assert (status.healthy, status.detail) == (True, "ok")
    assert status.handler.endswith("MemoryForwarder(box)")
    handler.ping_error = ConnectionError("redis://user:hunter2@10.0.0.1:6379 unreachable")
    status = await handler.check_health()
    assert not status.healthy
    assert status.detail == "ConnectionError: redis://***@10.0.0.1:6379 unreachable"
    assert status.as_dict() == {
        "healthy": False,
        "handler": status.handler,
        "detail": status.detail,
    }


async def test_a_probe_that_hangs_is_unhealthy_after_the_health_timeout() -> None:
    """A ping that never answers makes check_health() say so instead of hanging."""
    handler = MemoryForwarder()
    handler.health_timeout = 0.01

    async def hang(client: object) -> None:
        await asyncio.Event().wait()

    handler.ping = hang  # type: ignore[method-assign]
    status = await handler.check_health()
    assert (status.healthy, status.detail) == (False, "no answer within 0.01s")


async def test_a_batch_span_names_the_destination_or_routed() -> None:
    """One send span per drain: its destination, or "(routed)" across several."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = MemoryForwarder(lambda event: event.key)
    async with event_scope(handlers=[handler], tracer_provider=provider):
        dispatch("a", 1)
        dispatch("b", 2)
    async with event_scope(handlers=[handler], tracer_provider=provider):
        dispatch("a", 3)
    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans if s.name.startswith("send")) == [
        "send (routed)",
        "send a",
    ]


@pytest.mark.parametrize("answer_in_time", [True, False], ids=["answered", "no-answer"])
async def test_any_forwarder_cancelled_mid_send_neither_resends_nor_loses(
    answer_in_time: bool,
) -> None:
    """The base's grace: a send answered after the cancellation settles its events."""
    release, held = asyncio.Event(), asyncio.Event()

    async def hold(batch: Sequence[OutgoingMessage]) -> None:
        held.set()
        await release.wait()

    handler = MemoryForwarder()
    handler.in_flight_grace = 5.0 if answer_in_time else 0.01
    handler.outcomes = [_wait(hold)]
    ledger = Ledger()
    middleware = EventHandlerASGIMiddleware(
        dispatching_app(3), handlers=[handler], on_error=ledger.on_error, shutdown_timeout=0
    )
    request = asyncio.ensure_future(call(middleware))
    await held.wait()
    request.cancel()
    await asyncio.sleep(0.01)  # the cancellation reaches the forwarder first
    if answer_in_time:
        release.set()
    with pytest.raises(asyncio.CancelledError):
        await request
    await middleware.pipeline.shutdown()
    outcomes = len(handler.delivered) + len(ledger.reported)
    release.set()
    if answer_in_time:
        assert (len(handler.sent), ledger.reported) == (1, [])
    else:  # unknown outcome: the events stay owed (sent again, or reported at shutdown)
        assert outcomes == 3
    assert len(set(ledger.reported_ids())) == len(ledger.reported)
