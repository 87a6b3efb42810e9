"""The Kafka wire of the end-to-end tests (see e2e_apps.py), on Tansu.

App A produces each event to the topic named in its payload (``$KAFKA_BOOTSTRAP``); the
worker reads ``$TOPIC`` in the group ``$GROUP``. Tansu refuses aiokafka's idempotent
producer, and short group timings make a join take ~1 s (test_kafka.py).
"""

import os

from fastapi import FastAPI

from fastapi_events.consumers import KafkaConsumer
from fastapi_events.handlers.kafka import KafkaForwardHandler
from tests.consumers.e2e_apps import destination, producer, worker
from tests.consumers.test_kafka import FAST_GROUP


def app() -> FastAPI:
    """App A, forwarding with the Kafka forwarder."""
    forwarder = KafkaForwardHandler(
        destination, bootstrap_servers=os.environ["KAFKA_BOOTSTRAP"], idempotent=False
    )
    return producer(forwarder)


def consumer() -> KafkaConsumer:
    """The worker's consumer of ``$TOPIC``."""
    return worker(
        KafkaConsumer,
        os.environ["TOPIC"],
        group=os.environ["GROUP"],
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP"],
        idempotent=False,
        consumer_options=FAST_GROUP,
        poll_timeout=0.2,
    )
