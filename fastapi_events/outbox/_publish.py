"""Publishing one claimed batch through an event scope, and what each row comes to."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .._event import Event
from .._redact import capped_text, describe_event, describe_handler, describe_validation_error
from .._reporting import ErrorHook, call_error_hook
from ..errors import OutboxRelayLostError
from ..scope import event_scope
from ._rows import Claimed, Settlement, utcnow
from ._table import DEAD, PENDING

__all__ = [
    "Backoff",
    "Failure",
    "bury",
    "close_handlers",
    "decide",
    "describe_error",
    "exhausted",
    "publish",
    "start_handlers",
]

logger = logging.getLogger("fastapi_events.outbox")

#: The most characters of an exception's message kept in ``last_error``.
_ERROR_LIMIT = 500


@dataclass(frozen=True)
class Failure:
    """The first failure reported for an event: the handler and its exception."""

    handler: Any
    exception: BaseException


async def publish(
    events: Sequence[Event], handlers: Sequence[Any], **scope_options: Any
) -> dict[str, Failure]:
    """Give ``events`` to every handler, in order, each failure isolated and reported;
    return the failures by event id (an event not in it was taken by every handler)."""
    failures: dict[str, Failure] = {}

    def record(event: Event, handler: Any, exc: BaseException) -> None:
        failures.setdefault(event.id, Failure(handler, exc))

    async with event_scope(handlers=handlers, on_error=record, **scope_options) as buffer:
        for event in events:
            buffer.add(event)
    return failures


def exhausted(claimed: Sequence[Claimed], max_attempts: int) -> dict[str, Failure]:
    """The rows claimed past ``max_attempts`` (their relay died during the last attempt:
    a graceful stop gives the attempt back), as failures that bury them unpublished."""
    lost = OutboxRelayLostError(
        f"the relay holding it stopped during its last attempt (max_attempts={max_attempts})"
    )
    return {row.event.id: Failure(None, lost) for row in claimed if row.attempts > max_attempts}


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: after the n-th failed attempt a row waits a random
    time between half and all of ``min(cap, base * 2 ** (n - 1))`` seconds."""

    base: float
    cap: float

    def delay(self, attempts: int) -> float:
        """Seconds before the next attempt of a row that failed ``attempts`` times."""
        bound = min(self.cap, self.base * 2.0 ** min(attempts - 1, 64))
        return random.uniform(bound / 2, bound)


def describe_error(exc: BaseException) -> str:
    """``last_error``: the exception's type and its message, capped (a pydantic
    ValidationError as field paths and types: its text quotes the input)."""
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    text = describe_validation_error(exc)
    if text is None:
        text = str(exc)
    return f"{kind}: {capped_text(text, _ERROR_LIMIT)}" if text else kind


def decide(
    claimed: Sequence[Claimed],
    failures: dict[str, Failure],
    max_attempts: int,
    backoff: Backoff,
) -> tuple[Settlement, list[tuple[Claimed, Failure]]]:
    """The settlement of a published batch, and the rows it dead-letters with their last
    failure: a row is published if no handler failed on its event; else retried after
    its backoff, or dead once it has had ``max_attempts`` attempts."""
    published: list[int] = []
    failed: list[dict[str, Any]] = []
    dead: list[tuple[Claimed, Failure]] = []
    now = utcnow()
    for row in claimed:
        failure = failures.get(row.event.id)
        if failure is None:
            published.append(row.id)
            continue
        buried = row.attempts >= max_attempts
        if buried:
            dead.append((row, failure))
        delay = 0.0 if buried else backoff.delay(row.attempts)
        failed.append(
            {
                "row_id": row.id,
                "new_attempts": row.attempts,
                "new_next_attempt_at": now + timedelta(seconds=delay),
                "new_status": DEAD if buried else PENDING,
                "new_last_error": describe_error(failure.exception),
            }
        )
    return Settlement(published, failed), dead


async def bury(
    dead: Sequence[tuple[Claimed, Failure]],
    dead_letter: Any,
    on_error: ErrorHook | None,
    scope_options: dict[str, Any],
) -> None:
    """Log each dead row's event, give the events to ``dead_letter`` (if any), then pass
    each to ``on_error`` with its last failure."""
    for row, failure in dead:
        logger.error(
            "outbox event %s (id %s) is dead after %d attempt(s); last failure in %s: %s",
            describe_event(row.event),
            row.event.id,
            row.attempts,
            describe_handler(failure.handler),
            type(failure.exception).__name__,
        )
    if dead_letter is not None:
        await publish([row.event for row, _ in dead], [dead_letter], **scope_options)
    for row, failure in dead:
        call_error_hook(on_error, row.event, failure.handler, failure.exception)


async def start_handlers(handlers: Sequence[Any]) -> None:
    """``astart()`` each handler; a failure is logged and the others still start."""
    for handler in handlers:
        try:
            await handler.astart()
        except Exception:
            logger.exception("starting handler %s failed", describe_handler(handler))


async def close_handlers(handlers: Sequence[Any]) -> None:
    """``aclose()`` each handler; a failure is logged and the others still close."""
    for handler in handlers:
        try:
            await handler.aclose()
        except Exception:
            logger.exception("closing handler %s failed", describe_handler(handler))
