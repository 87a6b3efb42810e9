"""Retries and concurrency limits of one local handler function, and the dead-letter path.

``register(..., retry=RetryPolicy(...), max_concurrency=N)``: a failing function is called
again (only it: the functions before it that already succeeded are not), with exponential
backoff and jitter, for the exceptions the policy names; after the last attempt the event
goes to the middleware's ``dead_letter`` handler and to ``on_error``. At most ``N`` calls of
the function run at once, across requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .._context import current_running_pipeline, enter_progress, reset
from .._event import Event
from .._redact import describe_handler
from .._reporting import must_propagate, report_failure
from ..errors import ConfigurationError, EventDeadLetteredError
from ._batching import RetryPolicy

__all__ = ["Guard", "dead_letter_or_report"]

logger = logging.getLogger("fastapi_events")


class Guard:
    """The retry policy and concurrency limit of one registered function."""

    __slots__ = ("_semaphores", "limit", "retry")

    def __init__(self, retry: RetryPolicy | None, max_concurrency: int | None) -> None:
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(
                f"retry must be a RetryPolicy, got {type(retry).__name__}; pass e.g. "
                f"retry=RetryPolicy(attempts=3)"
            )
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ConfigurationError(
                f"max_concurrency must be an int >= 1 or None, got {type(max_concurrency).__name__}"
            )
        self.retry = retry
        self.limit = max_concurrency
        # One semaphore per event loop (test clients run apps on loops of their own).
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    async def run(self, attempt: Callable[[], Awaitable[Any]]) -> None:
        """Call ``attempt`` within the concurrency limit, retrying as the policy says;
        raise the last failure when no attempt is left."""
        if self.limit is None:
            await self._attempts(attempt)
            return
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        async with semaphore:
            await self._attempts(attempt)

    async def _attempts(self, attempt: Callable[[], Awaitable[Any]]) -> None:
        policy = self.retry
        attempts = 1 if policy is None else policy.attempts
        for number in range(attempts):
            try:
                await attempt()
                return
            except BaseException as exc:
                last = number == attempts - 1
                if last or must_propagate(exc) or not isinstance(exc, policy.retry_on):  # type: ignore[union-attr]
                    raise
            await asyncio.sleep(policy.delay(number))  # type: ignore[union-attr]


async def dead_letter_or_report(
    event: Event, func: Callable[..., Any], exc: BaseException, guard: Guard | None
) -> None:
    """Report ``func``'s failure on ``event``; when its retries are spent and the
    middleware has a dead-letter handler, hand the event to it first."""
    pipeline = current_running_pipeline()
    dead_letter = None if pipeline is None else getattr(pipeline, "dead_letter", None)
    retried = guard is not None and guard.retry is not None and guard.retry.attempts > 1
    if not (retried and dead_letter is not None and _exhausted(exc, guard)):
        report_failure(event, func, exc)
        return
    token = enter_progress(None)  # the dead-letter handler settles nothing of this batch
    try:
        await dead_letter.handle_many([event])
    except Exception as failure:  # the dead-letter handler itself failed: plain report
        logger.error("dead-letter handler %s failed", describe_handler(dead_letter))
        report_failure(event, func, failure)
        return
    finally:
        reset(token)
    error = EventDeadLetteredError(guard.retry.attempts)  # type: ignore[union-attr]
    error.__cause__ = exc
    report_failure(event, func, error, message="handler %s dead-lettered event %s (id %s)")


def _exhausted(exc: BaseException, guard: Guard | None) -> bool:
    return guard is not None and guard.retry is not None and isinstance(exc, guard.retry.retry_on)
