"""The Google Pub/Sub wire of the end-to-end tests (see e2e_apps.py).

App A publishes every event to ``$TOPIC_ID``, the worker consumes ``$SUBSCRIPTION_ID``
(the emulator at ``$PUBSUB_EMULATOR_HOST``, project ``fastapi-events-test``).
"""

import os

from fastapi import FastAPI

from fastapi_events.consumers import PubSubConsumer
from fastapi_events.handlers.gcp import GoogleCloudSimplePubSubHandler
from tests.consumers.e2e_apps import producer, worker

PROJECT_ID = "fastapi-events-test"


def app() -> FastAPI:
    """App A, forwarding with the Pub/Sub forwarder."""
    return producer(GoogleCloudSimplePubSubHandler(PROJECT_ID, os.environ["TOPIC_ID"]))


def consumer() -> PubSubConsumer:
    """The worker's consumer of ``$SUBSCRIPTION_ID``."""
    return worker(PubSubConsumer, PROJECT_ID, os.environ["SUBSCRIPTION_ID"])
