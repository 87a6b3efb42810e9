"""The Redis Streams wire of the end-to-end tests (see e2e_apps.py).

App A appends each event to the stream named in its payload (``$REDIS_URL``); the worker
reads ``$STREAM`` in the consumer group ``$GROUP``.
"""

import os

from fastapi import FastAPI

from fastapi_events.consumers import RedisStreamConsumer
from fastapi_events.handlers.redis import RedisStreamForwardHandler
from tests.consumers.e2e_apps import destination, producer, worker


def app() -> FastAPI:
    """App A, forwarding with the Redis Streams forwarder."""
    return producer(RedisStreamForwardHandler(destination, url=os.environ["REDIS_URL"]))


def consumer() -> RedisStreamConsumer:
    """The worker's consumer of ``$STREAM``."""
    return worker(
        RedisStreamConsumer,
        os.environ["STREAM"],
        group=os.environ["GROUP"],
        url=os.environ["REDIS_URL"],
        consumer_name="e2e-worker",
        block=0.2,
    )
