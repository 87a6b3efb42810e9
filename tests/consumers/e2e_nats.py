"""The NATS JetStream wire of the end-to-end tests (see e2e_apps.py).

App A publishes each event to the subject in its payload (``$NATS_URL``); the worker
consumes the stream ``$STREAM`` with the durable ``e2e``.
"""

import os

from fastapi import FastAPI

from fastapi_events.consumers import NATSConsumer
from fastapi_events.handlers.nats import NATSForwardHandler
from tests.consumers.e2e_apps import destination, producer, worker


def app() -> FastAPI:
    """App A, forwarding with the NATS forwarder."""
    return producer(NATSForwardHandler(destination, url=os.environ["NATS_URL"]))


def consumer() -> NATSConsumer:
    """The worker's consumer of ``$STREAM``."""
    return worker(
        NATSConsumer,
        os.environ["STREAM"],
        durable="e2e",
        url=os.environ["NATS_URL"],
        fetch_wait=0.5,
    )
