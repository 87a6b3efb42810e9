"""Every failure path: exactly one log record and one error-hook call per event, no payload."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from fastapi_events import event_scope
from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.aws import SQSForwardHandler
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from fastapi_events.serialization import SerializationError
from tests.leaks import MAX_MESSAGE, Opaque, assert_not_leaked, secret
from tests.servers.sqs import REGION, SQSQueue

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-payload-value"
Hooked = list[tuple[str, Any, type[BaseException]]]


def errors_about(records: list[logging.LogRecord], event: str) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.ERROR and event in r.getMessage()]


def assert_no_payload_logged(records: list[logging.LogRecord]) -> None:
    for record in records:
        if record.levelno >= logging.INFO:
            assert SECRET not in record.getMessage()


def hook(into: Hooked) -> Callable[[Event, Any, BaseException], None]:
    return lambda event, handler, exc: into.append((event.key, handler, type(exc)))


async def test_a_failing_handler_function(library_logs: list[logging.LogRecord]) -> None:
    """One ERROR record naming the event and its id, with the traceback; one hook call."""
    handler = LocalHandler()
    hooked: Hooked = []

    @handler.register(event_name="*")
    async def broken(event: Event) -> None:
        raise ValueError("boom")

    async with event_scope(handlers=[handler], on_error=hook(hooked)):
        dispatch("order.created", {"card": SECRET})
    [record] = errors_about(library_logs, "'order.created'")
    assert record.name == "fastapi_events"
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert hooked == [("order.created", broken, ValueError)]
    assert_no_payload_logged(library_logs)


async def test_an_unserialisable_event_in_a_forwarder(
    library_logs: list[logging.LogRecord], sqs_queue: Callable[..., SQSQueue]
) -> None:
    """One record on fastapi_events.handlers.aws and one hook call with the forwarder."""
    queue = sqs_queue()
    forwarder = SQSForwardHandler(queue.url, REGION, endpoint_url=queue.endpoint)
    hooked: Hooked = []
    async with event_scope(handlers=[forwarder], on_error=hook(hooked)):
        dispatch("order.created", {"card": SECRET, "when": object()})
    await forwarder.aclose()
    [record] = errors_about(library_logs, "'order.created'")
    assert record.name == "fastapi_events.handlers.aws"
    assert hooked == [("order.created", forwarder, SerializationError)]
    assert_no_payload_logged(library_logs)


async def test_an_unencodable_value_never_reaches_the_log_through_a_forwarder(
    library_logs: list[logging.LogRecord], sqs_queue: Callable[..., SQSQueue]
) -> None:
    """The SQS forwarder's record and traceback name the value's type, never its repr."""
    marker = secret()
    queue = sqs_queue()
    forwarder = SQSForwardHandler(queue.url, REGION, endpoint_url=queue.endpoint)
    hooked: list[BaseException] = []
    async with event_scope(handlers=[forwarder], on_error=lambda e, h, x: hooked.append(x)):
        dispatch("order.created", {"card": Opaque(marker)})
    await forwarder.aclose()
    assert len(errors_about(library_logs, "'order.created'")) == 1
    assert_not_leaked(marker, library_logs, hooked)


class Card(pydantic.BaseModel):
    number: int


async def test_a_validation_error_is_logged_without_its_input(
    library_logs: list[logging.LogRecord],
) -> None:
    """A handler's pydantic ValidationError: field paths and types, plus the stack; the
    input pydantic quotes stays out of the record; the hook gets the exception."""
    marker = secret()
    handler = LocalHandler()
    hooked: Hooked = []

    @handler.register(event_name="*")
    async def parse(event: Event) -> None:
        Card.model_validate(event.payload)

    async with event_scope(handlers=[handler], on_error=hook(hooked)):
        dispatch("card.added", {"number": marker})
    [record] = errors_about(library_logs, "'card.added'")
    assert "number: int_parsing (got str)" in record.getMessage()
    assert "in parse" in record.getMessage()  # the frames are kept
    assert hooked == [("card.added", parse, pydantic.ValidationError)]
    assert_not_leaked(marker, library_logs)


async def test_a_huge_event_name_is_logged_capped(library_logs: list[logging.LogRecord]) -> None:
    """A failure on an event with a 1 MiB name makes a record of a few hundred characters."""
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def broken(event: Event) -> None:
        raise ValueError("boom")

    async with event_scope(handlers=[handler]):
        dispatch("n" * 2**20)
    [record] = [r for r in library_logs if r.levelno >= logging.ERROR]
    assert len(record.getMessage()) <= MAX_MESSAGE


async def test_a_failing_error_hook(library_logs: list[logging.LogRecord]) -> None:
    """The handler failure is logged once, and the hook's own failure once more."""
    handler = LocalHandler()

    @handler.register(event_name="*")
    async def broken(event: Event) -> None:
        raise ValueError("boom")

    def bad_hook(event: Event, handler: Any, exc: BaseException) -> None:
        raise RuntimeError("hook broke")

    async with event_scope(handlers=[handler], on_error=bad_hook):
        dispatch("order.created", SECRET)
    messages = [r.getMessage() for r in errors_about(library_logs, "'order.created'")]
    assert len(messages) == 2
    assert messages[0].startswith("handler ") and "error hook" in messages[1]
    assert_no_payload_logged(library_logs)


async def test_a_cancelled_background_task(library_logs: list[logging.LogRecord]) -> None:
    """Events of a cancelled task: one record and one hook call each."""
    started = asyncio.Event()
    handler = LocalHandler()
    hooked: Hooked = []

    @handler.register(event_name="*")
    async def stuck(event: Event) -> None:
        started.set()
        await asyncio.Event().wait()

    middleware = EventHandlerASGIMiddleware(
        app=None,  # type: ignore[arg-type]
        handlers=[handler],
        middleware_id=72,
        on_error=hook(hooked),
    )
    dispatch("job.stuck", SECRET, middleware_id=72)
    await started.wait()
    tasks = list(middleware.pipeline.runner._tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(errors_about(library_logs, "'job.stuck'")) == 1
    assert [(name, kind.__name__) for name, _, kind in hooked] == [
        ("job.stuck", "EventsCancelledError")
    ]
    assert_no_payload_logged(library_logs)
