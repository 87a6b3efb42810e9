"""Consumers: the other side of the wire. Messages the forwarders sent, back into handlers.

A worker service registers handlers exactly as the producing app does
(``@local_handler.register(event_name="order.*")``, ``Depends``, sync or async) and feeds
them from a queue or stream: each message is decoded back into the
:class:`~fastapi_events.Event` that was dispatched (same id, name, payload, timestamp,
correlation id, trace context), given to every handler, and acknowledged only once they
all succeeded. Failures are retried with the broker's own mechanism and dead-lettered
after ``max_deliveries``; a stop finishes what is in flight and gives the rest back.

Example::

    from fastapi_events.consumers import SQSConsumer
    from fastapi_events.handlers.local import local_handler

    consumer = SQSConsumer(queue_url, handlers=[local_handler], region_name="eu-west-1")
    app = FastAPI(lifespan=consumer.lifespan)  # or: python -m fastapi_events.consume app:consumer

Importing this package imports no broker client; constructing a consumer does.

.. versionadded:: 1.0
"""

from __future__ import annotations

from ._delivery import ConsumerStats, Delivery
from ._events import UNDECODABLE_EVENT
from .base import Consumer
from .idempotency import IdempotencyStore, MemoryIdempotencyStore
from .kafka import KafkaConsumer
from .nats import NATSConsumer
from .pubsub import PubSubConsumer
from .rabbitmq import RabbitMQConsumer
from .redis import RedisStreamConsumer
from .sqs import SQSConsumer

__all__ = [
    "UNDECODABLE_EVENT",
    "Consumer",
    "ConsumerStats",
    "Delivery",
    "IdempotencyStore",
    "KafkaConsumer",
    "MemoryIdempotencyStore",
    "NATSConsumer",
    "PubSubConsumer",
    "RabbitMQConsumer",
    "RedisStreamConsumer",
    "SQSConsumer",
]
