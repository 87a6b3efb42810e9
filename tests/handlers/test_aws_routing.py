"""SQSForwardHandler on the public forwarder base: a queue URL per event, and health."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError
from fastapi_events.handlers.aws import SQSForwardHandler
from tests.servers.sqs import REGION, SQSQueue

pytestmark = pytest.mark.anyio

Failure = tuple[Event, object, BaseException]
NO_BOTO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


async def _forward(handler: SQSForwardHandler, events: list[tuple[str, Any]]) -> list[Failure]:
    failures: list[Failure] = []
    try:
        async with event_scope(handlers=[handler], on_error=lambda *f: failures.append(f)):
            for name, payload in events:
                dispatch(name, payload)
    finally:
        await handler.aclose()
    return failures


def _names(queue: SQSQueue, expected: int) -> list[Any]:
    return [json.loads(m["Body"])[1] for m in queue.receive_all(expected)]


async def test_queue_url_may_be_a_function_of_the_event(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Each event goes to the queue its function names, in dispatch order per queue."""
    orders, users = sqs_queue(), sqs_queue()
    urls = {"orders": orders.url, "users": users.url}
    handler = SQSForwardHandler(
        lambda event: urls[event.key.split(".")[0]], REGION, endpoint_url=orders.endpoint
    )
    events = [("orders.new", 1), ("users.new", 2), ("orders.paid", 3)]
    assert await _forward(handler, events) == []
    assert (_names(orders, 2), _names(users, 1)) == ([1, 3], [2])


async def test_a_routed_fifo_queue_needs_its_group_per_event(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """Routed to a FIFO queue without message_group_id: those events are reported."""
    plain, fifo = sqs_queue(), sqs_queue(fifo=True)
    handler = SQSForwardHandler(
        lambda event: fifo.url if event.key == "f" else plain.url,
        REGION,
        endpoint_url=plain.endpoint,
    )
    failures = await _forward(handler, [("f", 1), ("p", 2)])
    assert [(e.key, type(x)) for e, _, x in failures] == [("f", ConfigurationError)]
    assert _names(plain, 1) == [2]


async def test_health_reads_the_queue_and_fails_where_it_cannot(
    sqs_queue: Callable[..., SQSQueue],
) -> None:
    """check_health() is healthy against moto, unhealthy for a missing queue or a dead port."""
    queue = sqs_queue()
    good = SQSForwardHandler(queue.url, REGION, endpoint_url=queue.endpoint)
    routed = SQSForwardHandler(lambda e: queue.url, REGION, endpoint_url=queue.endpoint)
    missing = SQSForwardHandler(queue.url + "-gone", REGION, endpoint_url=queue.endpoint)
    dead = SQSForwardHandler(
        queue.url, REGION, endpoint_url="http://127.0.0.1:9", config=NO_BOTO_RETRIES
    )
    statuses = [await h.check_health() for h in (good, routed, missing, dead)]
    for handler in (good, routed, missing, dead):
        await handler.aclose()
    assert [s.healthy for s in statuses] == [True, True, False, False]
    assert statuses[0].handler.endswith(f"SQSForwardHandler({queue.url})")
    assert "QueueDoesNotExist" in statuses[2].detail
    assert statuses[3].detail.startswith("EndpointConnectionError")
