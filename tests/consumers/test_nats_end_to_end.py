"""App A under a real uvicorn dispatches -> NATS forwarder -> JetStream -> NATSConsumer in a
worker process -> a local handler; SIGTERM mid-batch (the harness: e2e_kit.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.consumers.e2e_kit import Harness, assert_exactly_once, handled_by, sigterm_mid_batch
from tests.consumers.test_nats import consumer_for

pytestmark = [pytest.mark.anyio, pytest.mark.broker]


async def test_worker_sees_app_a_events_with_linked_traces_and_sigterm_loses_nothing(
    nats_url: str, nats_stream: Callable[..., Any], e2e: Harness
) -> None:
    """Same id, name, payload and correlation id in the worker; its handler spans link to
    app A's dispatch spans; SIGTERM while one event is stuck: the others were acked, the
    stuck one was given back and comes to the next consumer; by event id, nothing lost."""
    stream = await nats_stream()
    app_a = e2e.app_a("nats", NATS_URL=nats_url)
    worker = e2e.worker("nats", STREAM=stream.name, NATS_URL=nats_url)
    sent, finished = await sigterm_mid_batch(app_a, worker, to=stream.subject("orders"))
    rest = await handled_by(
        lambda handlers: consumer_for(stream, nats_url, handlers, durable="e2e"), 1
    )
    assert_exactly_once(sent, finished, rest)
