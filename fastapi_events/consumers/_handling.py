"""What happens to one delivery: decoded, de-duplicated, handed to the handlers through the
pipeline (every failure isolated and recorded for its event), then acknowledged, retried
later or dead-lettered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._event import Event
from .._pipeline import EventPipeline
from .._redact import describe_event, describe_handler
from .._reporting import ErrorHook, call_error_hook
from .._work import Work
from ..errors import RedeliveryLimitError, SerializationError
from ._delivery import ConsumerStats, Delivery
from ._events import event_of, undecodable_event
from ._options import Backoff
from .idempotency import IdempotencyStore

__all__ = [
    "ACK",
    "IN_FLIGHT_PAUSE",
    "RELEASE",
    "RETRY",
    "Failure",
    "FailureRecorder",
    "Handling",
    "Verdict",
]

logger = logging.getLogger("fastapi_events.consumers")

ACK, RETRY, RELEASE = "ack", "retry", "release"
#: Seconds at least before a copy of an event still being handled is delivered again.
IN_FLIGHT_PAUSE = 1.0
#: ``(ACK | RETRY | RELEASE, seconds before the next delivery)``.
Verdict = tuple[str, float]


@dataclass(frozen=True, slots=True)
class Failure:
    """The first failure reported for an event: the handler and its exception."""

    handler: Any
    exception: BaseException


class FailureRecorder:
    """A pipeline's error hook: records the first failure of each event being run; a
    failure of another event (one a handler chained) goes to the user's hook."""

    def __init__(self, fallback: ErrorHook | None) -> None:
        self._fallback = fallback
        self._watched: dict[int, Failure | None] = {}

    def __call__(self, event: Event, handler: Any, exc: BaseException) -> None:
        key = id(event)
        if key not in self._watched:
            call_error_hook(self._fallback, event, handler, exc)
        elif self._watched[key] is None:
            self._watched[key] = Failure(handler, exc)

    def watch(self, event: Event) -> None:
        """Record the first failure of ``event`` from now on."""
        self._watched[id(event)] = None

    def first_failure(self, event: Event) -> Failure | None:
        """Stop watching ``event``; its first failure since :meth:`watch`, if any."""
        return self._watched.pop(id(event))

    async def run(self, pipeline: EventPipeline, event: Event) -> Failure | None:
        """Give ``event`` to every handler of ``pipeline``; its first failure, if any."""
        self.watch(event)
        try:
            await pipeline.run(Work([event], pipeline.handlers))
        finally:
            failure = self.first_failure(event)
        return failure


class Handling:
    """Decides and does what one delivery comes to (see the module docstring)."""

    def __init__(
        self,
        pipeline: EventPipeline,
        dead_letter: EventPipeline | None,
        recorder: FailureRecorder,
        *,
        max_deliveries: int | None,
        backoff: Backoff,
        on_error: ErrorHook | None,
        store: IdempotencyStore | None,
        stats: ConsumerStats,
        describe: Callable[[], str],
    ) -> None:
        self.pipeline = pipeline
        self.handlers = pipeline.handlers
        self.dead_letter = dead_letter
        self.recorder = recorder
        self.max_deliveries = max_deliveries
        self.backoff = backoff
        self.on_error = on_error
        self.store = store
        self.stats = stats
        self.describe = describe
        self._active: set[str] = set()  # event ids being handled now

    def __call__(self, delivery: Delivery) -> Awaitable[Verdict]:
        """Handle ``delivery`` (decoded at once, the rest awaited); what to tell the broker."""
        try:
            event = event_of(delivery)
        except SerializationError as exc:
            return self._undecodable(delivery, exc)
        if event.id in self._active:
            return self._in_flight_already()
        limit = self.max_deliveries
        if limit is not None and delivery.deliveries > limit:
            return self._over_limit(delivery, event, limit)
        return self._handle(delivery, event)

    async def _in_flight_already(self) -> Verdict:
        # Redelivered while still being handled here (handling outlasted the visibility
        # timeout): never handled twice at once, nor buried under itself.
        return RETRY, max(self.backoff.delay(1), IN_FLIGHT_PAUSE)

    async def _over_limit(self, delivery: Delivery, event: Event, limit: int) -> Verdict:
        lost = RedeliveryLimitError(
            f"delivered {delivery.deliveries} times (max_deliveries={limit}) with no "
            "failure on record: its workers stopped while it was in flight",
            deliveries=delivery.deliveries,
        )
        return await self._bury(delivery, event, Failure(None, lost))

    async def _handle(self, delivery: Delivery, event: Event) -> Verdict:
        """Handle ``event`` unless already handled (``store``); the verdict on its failure."""
        store, recorder, event_id = self.store, self.recorder, event.id
        self._active.add(event_id)
        try:
            if store is not None and await store.seen(event_id):
                self.stats.duplicates += 1
                return ACK, 0.0
            recorder.watch(event)  # recorder.run(), inlined: one coroutine less per message
            try:
                await self.pipeline.run(Work([event], self.handlers))
            finally:
                failure = recorder.first_failure(event)
            if failure is not None:
                return await self._failed(delivery, event, failure)
            if store is not None:
                await store.remember(event_id)
            self.stats.succeeded += 1
            return ACK, 0.0
        finally:
            self._active.discard(event_id)

    async def _failed(self, delivery: Delivery, event: Event, failure: Failure) -> Verdict:
        self.stats.failed += 1
        if self.max_deliveries is not None and delivery.deliveries >= self.max_deliveries:
            return await self._bury(delivery, event, failure)
        self.stats.retried += 1
        return RETRY, self.backoff.delay(delivery.deliveries)

    async def _undecodable(self, delivery: Delivery, exc: SerializationError) -> Verdict:
        self.stats.undecodable += 1
        cause = exc.__cause__
        logger.error(  # the cause's text may quote the body: its type only
            "%s: message %s is not an event (%s); dead-lettered",
            self.describe(),
            delivery.message_id,
            exc if cause is None else f"{type(exc).__name__} from {type(cause).__name__}",
        )
        return await self._bury(delivery, undecodable_event(delivery, exc), Failure(None, exc))

    async def _bury(self, delivery: Delivery, event: Event, failure: Failure) -> Verdict:
        """Dead-letter ``event``: to the dead-letter handler (if any; when it fails, the
        message is retried, never dropped), then to ``on_error`` with its failure."""
        if self.dead_letter is not None:
            refused = await self.recorder.run(self.dead_letter, event)
            if refused is not None:
                logger.error(
                    "%s: dead-letter handler %s failed on event %s (id %s); retried later",
                    self.describe(),
                    describe_handler(refused.handler),
                    describe_event(event),
                    event.id,
                )
                return RETRY, self.backoff.delay(delivery.deliveries)
        logger.error(
            "%s: event %s (id %s) dead-lettered after %d delivery(ies); last failure in %s: %s",
            self.describe(),
            describe_event(event),
            event.id,
            delivery.deliveries,
            describe_handler(failure.handler),
            type(failure.exception).__name__,
        )
        self.stats.dead_lettered += 1
        delivery.dead_lettered = True
        call_error_hook(self.on_error, event, failure.handler, failure.exception)
        return ACK, 0.0
