"""The forwarder base under interruption: a send already on the wire is accounted exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from tests.accounting import Ledger, call, dispatching_app
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
