"""SQSForwardHandler's max_in_flight and transport: bad values rejected at construction, N
batch requests on the wire at once (observed at a holding proxy in front of moto), one at
a time for a FIFO queue, and every event delivered exactly once with either transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.aws import SQSForwardHandler
from tests.accounting import Ledger
from tests.servers.sqs import REGION, FaultyProxy, SQSQueue

pytestmark = pytest.mark.anyio

MakeHandler = Callable[..., SQSForwardHandler]


@pytest.fixture
async def make_handler() -> AsyncIterator[MakeHandler]:
    """Build handlers for a test and aclose() them at its end."""
    made: list[SQSForwardHandler] = []

    def make(queue: SQSQueue, endpoint: str, **options: Any) -> SQSForwardHandler:
        handler = SQSForwardHandler(queue.url, REGION, endpoint_url=endpoint, **options)
        made.append(handler)
        return handler

    yield make
    for handler in made:
        await handler.aclose()


@pytest.mark.parametrize("value", [0, -1, 1025, 2.5, True, "8", None])
async def test_max_in_flight_outside_its_range_is_rejected(value: Any) -> None:
    """max_in_flight must be an int from 1 to 1024; the error names the type and the fix."""
    with pytest.raises(ConfigurationError, match=r"max_in_flight must be an int") as info:
        SQSForwardHandler("http://q", REGION, max_in_flight=value)
    assert "max_in_flight=32" in str(info.value)
    if not isinstance(value, int):
        assert type(value).__name__ in str(info.value)


@pytest.mark.parametrize("value", ["threads", "", None, 1])
async def test_unknown_transport_is_rejected(value: Any) -> None:
    """transport must be "auto", "asyncio" or "botocore"; the error lists them."""
    with pytest.raises(ConfigurationError, match=r"transport must be one of 'auto'"):
        SQSForwardHandler("http://q", REGION, transport=value)


async def _wait_for_sends(proxy: FaultyProxy, count: int) -> None:
    for _ in range(500):  # bounded: 10 s at most
        if len(proxy.sends()) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} sends expected, the proxy saw {proxy.sends()}")


async def _held_sends(
    proxy: FaultyProxy, handler: SQSForwardHandler, events: int, expected: int
) -> tuple[list[int], Ledger]:
    """Forward ``events`` events in one drain while the proxy holds every send; return
    the sends on the wire once ``expected`` are held (and a moment later), then release."""
    await handler.astart()  # the client and the queue's size limit, before holding
    proxy.hold = True
    ledger = Ledger()

    async def drain() -> None:
        async with event_scope(handlers=[handler], on_error=ledger.on_error):
            for index in range(events):
                dispatch("order.placed", {"n": index})

    task = asyncio.create_task(drain())
    await _wait_for_sends(proxy, expected)
    await asyncio.sleep(0.2)  # room for more sends to arrive, were they not limited
    held = proxy.sends()
    proxy.released.set()
    await asyncio.wait_for(task, 10)
    return held, ledger


@pytest.mark.parametrize("transport", ["asyncio", "botocore"])
async def test_max_in_flight_batches_are_on_the_wire_at_once(
    sqs_queue: Callable[..., SQSQueue],
    sqs_proxy: FaultyProxy,
    make_handler: MakeHandler,
    transport: str,
) -> None:
    """With 3 in flight, 3 of one drain's 6 batches are sent before any answer; then all
    60 events arrive once."""
    queue = sqs_queue()
    handler = make_handler(queue, sqs_proxy.url, max_in_flight=3, transport=transport)
    held, ledger = await _held_sends(sqs_proxy, handler, 60, 3)
    assert held == [10, 10, 10]
    assert sorted(sqs_proxy.sends()) == [10] * 6
    messages = queue.receive_all(60)
    ledger.handled = [json.loads(m["Body"])[1]["n"] for m in messages]
    ledger.assert_exact(60)


async def test_fifo_batches_of_one_drain_go_one_at_a_time(
    sqs_queue: Callable[..., SQSQueue], sqs_proxy: FaultyProxy, make_handler: MakeHandler
) -> None:
    """A FIFO queue keeps each group's order: the next batch waits for the answer."""
    queue = sqs_queue(fifo=True)
    handler = make_handler(queue, sqs_proxy.url, max_in_flight=4, message_group_id="g")
    held, ledger = await _held_sends(sqs_proxy, handler, 30, 1)
    assert held == [10]
    messages = queue.receive_all(30)
    assert [json.loads(m["Body"])[1]["n"] for m in messages] == list(range(30))
    ledger.handled = [m["MessageId"] for m in messages]
    ledger.assert_exact(30)
