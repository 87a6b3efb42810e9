"""The RabbitMQ wire of the end-to-end tests (see e2e_apps.py).

App A publishes every event to the exchange ``$EXCHANGE`` (``$AMQP_URL``), routing key the
event's name; the worker consumes ``$QUEUE``, bound to it with ``order.*``.
"""

import os

from fastapi import FastAPI

from fastapi_events.consumers import RabbitMQConsumer
from fastapi_events.handlers.rabbitmq import RabbitMQForwardHandler
from tests.consumers.e2e_apps import producer, worker


def app() -> FastAPI:
    """App A, forwarding with the RabbitMQ forwarder."""
    return producer(
        RabbitMQForwardHandler(exchange=os.environ["EXCHANGE"], url=os.environ["AMQP_URL"])
    )


def consumer() -> RabbitMQConsumer:
    """The worker's consumer of ``$QUEUE``."""
    return worker(
        RabbitMQConsumer,
        os.environ["QUEUE"],
        url=os.environ["AMQP_URL"],
        exchange=os.environ["EXCHANGE"],
        routing_keys=("order.*",),
    )
