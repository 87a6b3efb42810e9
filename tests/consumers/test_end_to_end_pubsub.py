"""App A under a real uvicorn dispatches -> Pub/Sub forwarder -> the emulator -> a
``python -m fastapi_events.consume`` worker -> a local handler; then SIGTERM mid-batch
(the harness: e2e_kit.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.consumers.e2e_kit import Harness, sigterm_mid_batch
from tests.servers.pubsub import PubSubSubscription

pytestmark = [pytest.mark.anyio, pytest.mark.emulator]


async def test_a_worker_handles_what_app_a_dispatched_and_acks_only_that_at_sigterm(
    pubsub_subscription: Callable[..., PubSubSubscription], e2e: Harness
) -> None:
    """Same event id, name, payload and correlation id on both sides, each handler span
    linked to app A's dispatch span; at SIGTERM what finished is acknowledged, and only
    that: the rest (in flight past the timeout, or never handed over) is given back.

    (That it is deliverable again is checked in test_pubsub.py: once a subscriber's
    connection closes, the emulator loses the messages it nacked, even those the client
    library nacks by itself at shutdown, a bug Pub/Sub itself does not have.)"""
    subscription = pubsub_subscription()
    app_a = e2e.app_a("pubsub", TOPIC_ID=subscription.topic_id)
    worker = e2e.worker("pubsub", SUBSCRIPTION_ID=subscription.subscription_id)
    _, finished = await sigterm_mid_batch(app_a, worker, count=9, done=3)
    [stats] = worker.records("stats")
    assert stats["succeeded"] == stats["received"] - stats["released"] == len(finished)
