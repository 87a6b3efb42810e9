"""App A under a real uvicorn dispatches -> Kafka forwarder -> Tansu -> KafkaConsumer in a
worker process -> a local handler; SIGTERM mid-batch (the harness: e2e_kit.py). Failing
twice, and dead-lettering after N deliveries, are covered against the real broker at the
consumer level in test_kafka.py."""

from __future__ import annotations

import uuid

import pytest

from tests.consumers.e2e_kit import Harness, assert_exactly_once, handled_by, sigterm_mid_batch
from tests.consumers.test_kafka import committed, consumer_for
from tests.servers.kafka_server import KafkaTopics

pytestmark = [pytest.mark.anyio, pytest.mark.broker]


async def test_worker_sees_app_a_events_with_linked_traces_and_sigterm_loses_nothing(
    kafka_topic: KafkaTopics, e2e: Harness
) -> None:
    """Same id, name, payload and correlation id in the worker, its handler spans linked
    to app A's dispatch spans; SIGTERM while the last record is stuck: the group's offset
    is committed up to it, so the group's next member reads that record and no other;
    by event id, nothing lost and nothing handled twice."""
    topic, group = await kafka_topic.make("e2e"), f"g-{uuid.uuid4().hex[:8]}"
    kafka_topic.names.append(f"{topic}.{group}.retry")
    app_a = e2e.app_a("kafka", KAFKA_BOOTSTRAP=kafka_topic.bootstrap)
    worker = e2e.worker("kafka", TOPIC=topic, GROUP=group, KAFKA_BOOTSTRAP=kafka_topic.bootstrap)
    sent, finished = await sigterm_mid_batch(app_a, worker, to=topic)
    assert await committed(kafka_topic.bootstrap, group, topic) == [4]
    rest = await handled_by(
        lambda handlers: consumer_for(kafka_topic, topic, handlers, group=group), 1
    )
    assert_exactly_once(sent, finished, rest)
    assert await committed(kafka_topic.bootstrap, group, topic) == [5]
