"""Suite-wide set-up: loopback-only credentials, asyncio for anyio tests, isolation."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from fastapi_events import _store
from fastapi_events.constants import FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR
from fastapi_events.testing import isolated_registrations

# Fixture modules for the real servers the forwarder tests use (see ../shared/docs/test-infra.md).
pytest_plugins = (
    "tests.servers.sqs",
    "tests.servers.pubsub",
    "tests.servers.redis_server",
    "tests.servers.kafka_server",
    "tests.servers.rabbitmq_server",
    "tests.servers.nats_server",
    "tests.servers.sns",  # after the modules it imports (pytest rewrites plugins' asserts)
    "tests.catalogue.parser",  # the official AsyncAPI parser, on Node.js
)

# Dummy AWS credentials for the whole session, so botocore never looks for real ones
# (and never asks the EC2 metadata address, which is not loopback).
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
os.environ.pop(FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR, None)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the only loop the library targets)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolate_global_state() -> Iterator[None]:
    """Each test starts from the module-level registrations and leaves them as it found them
    (with our own test kit), and no middleware outlives it."""
    with isolated_registrations():
        yield
    _store.clear()


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def library_logs() -> Iterator[list[logging.LogRecord]]:
    """Records of the `fastapi_events` logger tree, captured on the logger itself.

    (Litestar reconfigures the root logger, which would detach pytest's caplog handler.)
    """
    handler = _ListHandler()
    logger = logging.getLogger("fastapi_events")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
