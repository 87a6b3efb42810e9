"""What happens to a request's events: payloads validated, duplicates skipped, each event
handed to every handler through the pipeline, and the answer only 2xx when all succeeded."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._event import Event, with_payload
from .._payload import prepare_payload
from .._pipeline import EventPipeline
from .._redact import capped_repr, field_path
from .._reporting import ErrorHook, call_error_hook
from ..consumers._handling import FailureRecorder
from ..consumers.idempotency import IdempotencyStore
from ..errors import EventsCancelledError, IngressError
from ..registry.base import BaseEventPayloadSchemaRegistry

__all__ = ["IngressHandling", "IngressStats", "Outcome"]

#: Validation errors a 422 answer lists; the rest are counted.
_MAX_ERRORS = 5


@dataclass(slots=True)
class IngressStats:
    """What an ingress has done since it was created (counts).

    Attributes:
        requests: requests received (every method and outcome).
        events: events decoded from accepted requests.
        handled: events every handler took.
        failed: events a handler failed on (each answered 5xx, for the sender to retry).
        duplicates: events skipped: their id was handled already (``deduplicate``).
        rejected: requests refused with 4xx for their body, size or content type.
        unauthorized: requests the verifier refused (401).

    .. versionadded:: 1.0
    """

    requests: int = 0
    events: int = 0
    handled: int = 0
    failed: int = 0
    duplicates: int = 0
    rejected: int = 0
    unauthorized: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a request whose events were handed to the handlers."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PayloadCheck:
    """How payloads are checked: the registry (``None``: not at all) and the dump."""

    registry: BaseEventPayloadSchemaRegistry | None
    dump: bool
    dump_args: Mapping[str, Any] | None


class IngressHandling:
    """Runs events through one pipeline; see the module docstring."""

    def __init__(
        self,
        pipeline: EventPipeline,
        recorder: FailureRecorder,
        check: PayloadCheck,
        *,
        store: IdempotencyStore | None,
        on_error: ErrorHook | None,
        stats: IngressStats,
    ) -> None:
        self.pipeline = pipeline
        self.recorder = recorder
        self.check = check
        self.store = store
        self.on_error = on_error
        self.stats = stats
        self._active: set[str] = set()  # event ids being handled now (with a store)

    def validated(self, events: list[Event]) -> list[Event]:
        """``events`` with payloads validated against their schemas (and dumped).

        Raises:
            IngressError: a payload does not match (422), naming the event and field paths.
        """
        registry = self.check.registry
        if registry is None:
            return events
        checked = []
        for index, event in enumerate(events):
            schema = registry.lookup(event.key)
            if schema is None:
                checked.append(event)
                continue
            args = dict(self.check.dump_args) if self.check.dump_args else None
            payload = {} if event.payload is None else event.payload
            try:
                payload = prepare_payload(payload, schema, self.check.dump, args)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise IngressError(_invalid(index, event, exc), status=422) from None
            checked.append(with_payload(event, payload))
        return checked

    async def handle(self, events: list[Event]) -> Outcome:
        """Hand every event to the handlers in order; 200 if all were handled (or were
        duplicates), 500 if a handler failed on any, 503 if one was being handled by
        another request."""
        failed: list[str] = []
        busy: list[str] = []
        duplicates = 0
        for event in events:
            result = await self._one(event)
            if result == "failed":
                failed.append(event.id)
            elif result == "busy":
                busy.append(event.id)
            elif result == "duplicate":
                duplicates += 1
        if failed:
            return Outcome(500, {"error": "a handler failed; deliver again", "failed": failed})
        if busy:
            return Outcome(503, {"error": "being handled by another request", "busy": busy})
        return Outcome(200, {"events": len(events), "duplicates": duplicates})

    async def _one(self, event: Event) -> str:
        store = self.store
        if store is not None:
            if event.id in self._active:
                return "busy"
            if await store.seen(event.id):
                self.stats.duplicates += 1
                return "duplicate"
            self._active.add(event.id)
        try:
            failure = await self.recorder.run(self.pipeline, event)
        except asyncio.CancelledError:
            error = EventsCancelledError("the request was cancelled while its event was handled")
            call_error_hook(self.on_error, event, None, error)
            raise
        finally:
            self._active.discard(event.id)
        if failure is not None:
            self.stats.failed += 1
            call_error_hook(self.on_error, event, failure.handler, failure.exception)
            return "failed"
        if store is not None:
            await store.remember(event.id)
        self.stats.handled += 1
        return "handled"


def _invalid(index: int, event: Event, exc: Exception) -> str:
    """A 422 message: the event and each error's field path and type, never the input."""
    errors = getattr(exc, "errors", None)
    found = errors(include_url=False, include_context=False) if callable(errors) else []
    listed = "; ".join(
        f"{field_path(error['loc'], 'data')}: {error['type']}" for error in found[:_MAX_ERRORS]
    )
    more = f"; and {len(found) - _MAX_ERRORS} more" if len(found) > _MAX_ERRORS else ""
    name = capped_repr(event.key, 80)
    detail = listed or type(exc).__name__
    return f"event {index} ({name}): payload does not match its schema: {detail}{more}"
