"""The SQS wire of the end-to-end tests (see e2e_apps.py).

App A forwards each event to the queue URL in its payload (moto at ``$SQS_ENDPOINT``); the
worker consumes ``$QUEUE_URL`` there.
"""

import os

from fastapi import FastAPI

from fastapi_events.consumers import SQSConsumer
from fastapi_events.handlers.aws import SQSForwardHandler
from tests.consumers.e2e_apps import destination, producer, worker


def app() -> FastAPI:
    """App A, forwarding with the SQS forwarder."""
    return producer(
        SQSForwardHandler(destination, "us-east-1", endpoint_url=os.environ["SQS_ENDPOINT"])
    )


def consumer() -> SQSConsumer:
    """The worker's consumer of ``$QUEUE_URL``."""
    return worker(
        SQSConsumer,
        os.environ["QUEUE_URL"],
        region_name="us-east-1",
        endpoint_url=os.environ["SQS_ENDPOINT"],
        wait_time_seconds=1,
    )
